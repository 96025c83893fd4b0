"""Shared test policy: a test that cannot run says why, and in CI that is a failure.

- Tests that need root are marked ``@pytest.mark.root``. Outside CI they skip
  when we are not root; with ``CI=true`` such a skip is turned into a
  failure, so a missing install step cannot hide behind it.
- A missing program (:func:`require_tools`) skips with the install command,
  and fails under ``CI=true`` whether or not the test is marked ``root``.
- The public corpus lives beside the repo in ``../shared/corpus/public``.
  Tests over it are parametrized with :func:`corpus_params` or take the
  :func:`corpus` fixture: where it is absent (a user's clone) they skip,
  saying where it was looked for; under ``CI=true`` they fail.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus" / "public"
SAMPLES = REPO / "sample_pcaps"
IN_CI = os.environ.get("CI", "").lower() == "true"
#: marks whose skip is a failure under CI=true
MUST_RUN_IN_CI = ("root", "corpus")
CORPUS_MISSING = f"public corpus not found at {CORPUS} (it sits beside the repo in the team's checkout)"


def unavailable(reason: str) -> None:
    """Skip with ``reason``; under CI=true fail with it instead (CI must run everything)."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a test that cannot run is a failure)", pytrace=False)
    pytest.skip(reason)


def require_root() -> None:
    if os.geteuid() != 0:
        unavailable("needs root (packet capture, strace, tracefs): run the suite with sudo")


def require_tools(*names: str) -> None:
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        unavailable(f"missing tools {missing}: run `make install` (apt-get install)")


def corpus_files(pattern: str = "*") -> list[Path]:
    """The corpus captures matching ``pattern``; [] where the corpus is absent."""
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.glob(pattern) if p.suffix in (".pcap", ".pcapng"))


def corpus_params(files: list[Path]) -> list:
    """``files`` as parametrize values (id = file name); where the corpus is absent, one case that
    skips saying so (a failure under CI=true) instead of an empty, silent parameter set."""
    if not CORPUS.is_dir():
        return [pytest.param(None, id="corpus-missing", marks=[pytest.mark.corpus, pytest.mark.skip(reason=CORPUS_MISSING)])]
    return [pytest.param(p, id=p.name, marks=pytest.mark.corpus) for p in files]


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        unavailable(CORPUS_MISSING)
    return CORPUS


def pytest_collection_modifyitems(items) -> None:
    for item in items:  # a test that takes the corpus fixture is a corpus test
        if "corpus" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.corpus)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and any(item.get_closest_marker(m) is not None for m in MUST_RUN_IN_CI):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.longrepr = f"skipped in CI (CI=true), which counts as a failure: {reason}"
