"""`abortscope run` in a mount namespace of its own, with the machine's tracefs made to be absent or to vanish.

    unshare -m --propagation private python -m tests.capture.in_namespace MODE OUT PORT [run options]

MODE:
    fresh    tracefs unmounted at /sys/kernel/tracing and /sys/kernel/debug/tracing first: a fresh machine
    vanish   tracefs mounted at /sys/kernel/tracing, then unmounted (lazily, as `umount -l` does when busy)
             while the run records, and the instance the run uses removed through another mount if it can be

Prints one JSON line: the run's exit status and stderr, the tracefs lines of this namespace's mount table
before and after, and what the attempts to pull tracefs away said.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from capture import procs
from tests.capture.runs import ABORTSCOPE
from tests.capture.tracing import tracefs_mounts

SYSTEM_TRACEFS = ("/sys/kernel/debug/tracing", "/sys/kernel/tracing")


def _unmount_all() -> None:
    for point in SYSTEM_TRACEFS:
        while subprocess.run(["umount", point], capture_output=True).returncode == 0:
            pass  # mounted more than once: unmount them all


def _pull_away(port: int) -> list[str]:
    """While the run records: unmount the system's tracefs, then try to remove the run's instances."""
    said = [f"umount -l /sys/kernel/tracing: exit {subprocess.run(['umount', '-l', '/sys/kernel/tracing']).returncode}"]
    point = Path(tempfile.mkdtemp())
    subprocess.run(["mount", "-t", "tracefs", "nodev", str(point)], check=True)
    try:
        for instance in sorted((point / "instances").glob(f"abortscope-*-{port}*")):
            try:
                instance.rmdir()
                said.append(f"rmdir {instance.name}: removed")
            except OSError as exc:
                said.append(f"rmdir {instance.name}: {exc.strerror}")
    finally:
        subprocess.run(["umount", str(point)], check=True)
        point.rmdir()
    return said


def main() -> int:
    mode, out, port, *options = sys.argv[1:]
    _unmount_all()
    if mode == "vanish":
        subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"], check=True)
    before = tracefs_mounts()
    run = subprocess.Popen([str(ABORTSCOPE), "run", "--out", out, "--port", port, *options],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    said = []
    if mode == "vanish":
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and run.poll() is None:
            if any(s.state == procs.TCP_ESTABLISHED and s.local.endswith(f":{port}") for s in procs.tcp_sockets()):
                said = _pull_away(int(port))  # the client is connected: every recorder is running
                break
            time.sleep(0.005)
    stdout, stderr = run.communicate(timeout=120)
    print(json.dumps({"exit": run.returncode, "stdout": stdout, "stderr": stderr, "before": before,
                      "after": tracefs_mounts(), "said": said}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
