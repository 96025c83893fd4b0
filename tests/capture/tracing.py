"""tracefs as a test looks at it: mounted by the test itself (with mount(8)), whatever the machine has mounted.

A fresh machine has no tracefs at /sys/kernel/tracing, and the harness never
mounts one there (it works on a private, detached mount): a test that read
/sys/kernel/tracing directly would fail there, or pass only because some
earlier run had left it mounted.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

#: the global instance's state a run must leave as it found it
GLOBAL_STATE_FILES = ("tracing_on", "trace_clock", "set_event", "current_tracer", "set_event_pid")


@contextlib.contextmanager
def tracefs_view() -> Iterator[Path]:
    """A tracefs mount of the test's own, unmounted afterwards."""
    point = Path(tempfile.mkdtemp(prefix="test-tracefs-"))
    subprocess.run(["mount", "-t", "tracefs", "nodev", str(point)], check=True, capture_output=True)
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], check=True, capture_output=True)
        point.rmdir()


def abortscope_instances(pattern: str = "abortscope-*") -> list[str]:
    with tracefs_view() as root:
        return sorted(p.name for p in (root / "instances").glob(pattern))


def global_tracing_state() -> dict[str, str]:
    with tracefs_view() as root:
        return {name: (root / name).read_text() for name in GLOBAL_STATE_FILES}


def tracefs_mounts() -> list[str]:
    """The tracefs lines of this mount namespace's mount table."""
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if " - tracefs " in line]
