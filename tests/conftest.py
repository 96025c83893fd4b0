"""Shared test policy.

- Tests that need root are marked ``@pytest.mark.root``. Outside CI they skip
  when we are not root or a tool is missing; with ``CI=true`` such a skip is
  turned into a failure, so a missing install step cannot hide behind it.
- The public corpus lives beside the repo in ``../shared/corpus/public``;
  tests that use it skip (saying why) where it is absent, as on a user's clone.
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


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (packet capture, strace, tracefs): run the suite with sudo")


def require_tools(*names: str) -> None:
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        pytest.skip(f"missing tools {missing}: run `make install` (apt-get install)")


def corpus_files(pattern: str = "*") -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.glob(pattern) if p.suffix in (".pcap", ".pcapng"))


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"public corpus not found at {CORPUS} (it sits beside the repo in the team's checkout)")
    return CORPUS


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and item.get_closest_marker("root") is not None:
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.longrepr = f"privileged test skipped in CI (CI=true): {reason}"
