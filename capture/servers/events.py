"""Reading back the app.jsonl lines a server or client appended (format: analysis/bundle.py)."""

from __future__ import annotations

import time
from pathlib import Path

from analysis.events import app_jsonl


def read_app_events(path: Path | None, *, pid: int | None = None, actor: str | None = None) -> list[dict]:
    """The complete lines of ``path`` (a torn last line is skipped), optionally one process's or side's."""
    if path is None or not Path(path).exists():
        return []
    return app_jsonl.events(Path(path).read_text(errors="replace"), pid=pid, actor=actor)


def wait_for_event(path: Path, event: str, *, pid: int | None = None, timeout_s: float = 10.0) -> dict | None:
    """The first ``event`` line (of ``pid``) in ``path``, waiting up to ``timeout_s``; None on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = [e for e in read_app_events(path, pid=pid) if e.get("event") == event]
        if found:
            return found[0]
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)
