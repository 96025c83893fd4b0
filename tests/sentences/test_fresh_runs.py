"""The reduced matrix of fresh runs (tests.sentences.matrix.REDUCED): real servers, clients, proxies on loopback,
each run analyzed and every sentence checked against its raw files. None may be false, and every run must run."""

from __future__ import annotations

import pytest

from tests import conftest
from tests.sentences.matrix import REDUCED, run_matrix

pytestmark = [pytest.mark.root, pytest.mark.slow]


def test_every_sentence_of_the_reduced_matrix_is_true(tmp_path):
    conftest.require_root()
    conftest.require_tools("go", "curl", "tcpdump", "tshark", "strace", "chromium", "nginx")
    lines: list[str] = []
    total, failed = run_matrix(REDUCED, tmp_path, log=lines.append)
    print("\n".join(lines))
    print(f"{len(REDUCED)} runs, {total.sentences} sentences, {total.clauses} clauses, {len(total.false)} false")
    assert failed == []
    assert total.false == []
    assert total.connections >= len(REDUCED) and total.clauses > 10 * len(REDUCED)
