"""tracefs on a fresh machine, and tracefs pulled away during a run.

A fresh machine has no tracefs mounted: a test that passed only because an
earlier run had left it mounted hid a failure in CI. These runs happen in a
private mount namespace (``unshare -m``) where tracefs is unmounted first, so
the harness must bring its own; and one where /sys/kernel/tracing is
unmounted, and the run's instance attacked, while the run records.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from analysis.bundle import BundlePaths, read_meta
from capture import procs
from capture.recorders.tracefs_mount import detach
from tests import conftest
from tests.capture.runs import QUICK, run_env
from tests.capture.tracing import abortscope_instances, tracefs_mounts

pytestmark = [pytest.mark.root, pytest.mark.slow]


def run_in_namespace(mode: str, out, *options: str) -> dict:
    conftest.require_tools("unshare", "mount", "umount", "go", "curl", "tcpdump", "strace")
    port = procs.free_port()
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", sys.executable, "-m", "tests.capture.in_namespace",
         mode, str(out), str(port), *options],
        capture_output=True, text=True, timeout=300, cwd=conftest.REPO, env=run_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "port": port}


def assert_kernel_layer_complete(out, port: int) -> dict:
    meta = read_meta(out)
    kernel = meta["recorders"]["kernel"]
    assert kernel["ran"] is True and kernel["why"] is None, kernel
    assert kernel["events_recorded"] > 5 and kernel["instance_removed"] is True, kernel
    text = BundlePaths(out).kernel.read_text()
    assert f"sport={port}" in text and "newstate=TCP_CLOSE_WAIT" in text and "error=32" in text
    assert abortscope_instances(f"abortscope-*-{port}*") == []
    return kernel


def test_on_a_fresh_machine_without_tracefs_the_harness_mounts_its_own(tmp_path):
    """No tracefs mounted anywhere in the namespace: the kernel layer is recorded all the same, and afterwards
    tracefs is still not mounted there (the harness's mount was private and is gone)."""
    out = tmp_path / "fresh"
    result = run_in_namespace("fresh", out, *QUICK)
    assert result["exit"] == 0, result["stderr"]
    assert result["before"] == [] and result["after"] == [], result
    kernel = assert_kernel_layer_complete(out, result["port"])
    assert kernel["tracefs"] == "private mount (detached)"
    assert "broken pipe" in result["stdout"]


def test_tracefs_unmounted_and_the_instance_attacked_mid_run_changes_nothing_and_leaves_nothing(tmp_path):
    """The issue: with tracefs gone mid-run, meta.json said ran: true with no kernel.txt, and the instance stayed
    with tracing on. Now the run's tracefs is its own (an umount of /sys/kernel/tracing does not touch it) and
    its instances are held open (rmdir by anyone else: EBUSY)."""
    out = tmp_path / "vanish"
    result = run_in_namespace("vanish", out, "--handler-delay", "0.6", "--abort-after", "0.1")
    assert result["exit"] == 0, result["stderr"]
    said = result["said"]
    assert said[0] == "umount -l /sys/kernel/tracing: exit 0"
    assert len(said) == 3 and all(line.endswith("Device or resource busy") for line in said[1:]), said
    assert result["after"] == [], "nothing mounted is left in the namespace"
    assert_kernel_layer_complete(out, result["port"])


def test_a_trace_that_cannot_be_read_is_reported_not_recorded(tmp_path):
    """Should the instance go away after all (here: our hold on it released and the instance removed from
    outside), the recorder says the kernel layer was not recorded, writes no kernel.txt, and leaves nothing."""
    from capture.recorders.tracefs import TracefsRecorder
    from tests.capture.tracing import tracefs_view

    conftest.require_root()
    mounts = tracefs_mounts()
    recorder = TracefsRecorder(procs.free_port(), tmp_path / "kernel.txt")
    recorder.start()
    while recorder._held:  # what the held files prevent: another root process removing the instance
        os.close(recorder._held.pop())
    with tracefs_view() as view:
        (view / "instances" / recorder.name_base).rmdir()
    recorder.stop()
    assert recorder.status["ran"] is False and "could not be read" in recorder.status["why"], recorder.status
    assert not (tmp_path / "kernel.txt").exists()
    assert abortscope_instances(f"{recorder.name_base}*") == [] and tracefs_mounts() == mounts


def test_detaching_checks_its_result(tmp_path):
    """The unmount is checked: umount2() on what is not a mount point raises with the kernel's reason."""
    conftest.require_root()
    with pytest.raises(OSError, match="Invalid argument"):
        detach(tmp_path)
