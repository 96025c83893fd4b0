"""The suite's own policy (tests/conftest.py), run as CI runs it: a test that cannot run fails under CI=true.

Each case runs pytest in a subprocess on a copy of tests/ whose parent has no
shared/ (a user's clone, or a CI checkout without the corpus beside it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

MISSING_TOOL_TEST = '''
from tests.conftest import require_tools

def test_needs_a_program_that_is_not_installed():
    require_tools("abortscope-no-such-program")
'''


@pytest.fixture(scope="module")
def clone_without_shared(tmp_path_factory) -> Path:
    """tests/ (and sample_pcaps/, linked) in a directory whose parent holds no shared/corpus."""
    repo = tmp_path_factory.mktemp("clone") / "repo"
    shutil.copytree(REPO / "tests", repo / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "sample_pcaps").symlink_to(REPO / "sample_pcaps")
    shutil.copy(REPO / "pyproject.toml", repo / "pyproject.toml")  # the markers and the timeout
    (repo / "tests" / "test_missing_tool.py").write_text(MISSING_TOOL_TEST)
    assert not (repo.parent / "shared").exists()
    return repo


def run_pytest(repo: Path, ci: str, *targets: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CI": ci}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rfEs", "-q", *targets],
        cwd=repo, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


CORPUS_TESTS = ("tests/analysis/test_timeline_api.py", "tests/analysis/pcap/test_corpus.py::test_every_corpus_file_reads_or_fails_clearly")


def test_without_the_corpus_its_tests_skip_saying_where_it_was_looked_for(clone_without_shared):
    done = run_pytest(clone_without_shared, "", *CORPUS_TESTS)
    assert done.returncode == 0, done.stdout
    assert "public corpus not found at" in done.stdout and "shared/corpus/public" in done.stdout
    assert "empty parameter set" not in done.stdout
    assert "passed" in done.stdout.splitlines()[-1] and " skipped" in done.stdout.splitlines()[-1]


def test_without_the_corpus_its_tests_fail_under_ci(clone_without_shared):
    done = run_pytest(clone_without_shared, "true", *CORPUS_TESTS)
    assert done.returncode == 1, done.stdout
    summary = done.stdout.splitlines()[-1]
    # set-up failed (the corpus fixture, the skip mark): pytest counts those as errors
    assert ("failed" in summary or "error" in summary) and "skipped" not in summary, summary
    assert "public corpus not found at" in done.stdout
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    assert any("corpus-missing" in line for line in failed) and any("test_timeline_api" in line for line in failed)


def test_a_missing_program_skips_outside_ci_and_fails_in_ci_without_the_root_mark(clone_without_shared):
    outside = run_pytest(clone_without_shared, "", "tests/test_missing_tool.py")
    assert outside.returncode == 0 and "1 skipped" in outside.stdout, outside.stdout
    assert "abortscope-no-such-program" in outside.stdout and "make install" in outside.stdout
    in_ci = run_pytest(clone_without_shared, "true", "tests/test_missing_tool.py")
    assert in_ci.returncode == 1 and "1 failed" in in_ci.stdout, in_ci.stdout
    assert "abortscope-no-such-program" in in_ci.stdout
