"""Ctrl-C at every moment of `abortscope run`: a loop of timed SIGINTs, each run checked by pid.

The issue's fault: a SIGINT to the process group while the server or a
recorder was starting left Go servers and a root tcpdump running (3 of 12
tries) while meta.json said nothing was alive. Each trial here starts the
run under a child subreaper (tests/capture/reaper.py), watches its process
tree and sockets, and sends SIGINT to its process group at one moment: a
fixed delay after start, or as soon as a given process appears (the server,
tcpdump, strace, curl, Chromium), or a delay after the client connected or
after the recorders were gone (the analysis). Then:

- nothing the run started is alive: every process it left behind would have
  been re-parented to the reaper, which lists them by pid;
- meta.json (when the run got as far as its bundle directory) says it was
  interrupted, by SIGINT, in the phase it was in, with no pid alive and no
  stray child, and the bundle belongs to the user who "typed sudo";
- no tracing instance of the run is left.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from analysis.bundle import read_meta
from capture import procs
from tests import conftest
from tests.capture.runs import ABORTSCOPE, run_env
from tests.capture.tracing import abortscope_instances

pytestmark = [pytest.mark.root, pytest.mark.slow]

HANDLER_DELAY_S = 0.5
#: the phases the loop must have hit (the build phase only happens on a fresh cache; preflight, drain and
#: stop are short and hit when the timing falls there)
MUST_HIT = {"server", "recorders", "client", "handler", "analysis"}


@dataclass
class Tree:
    """What the watcher sees of a run: its processes and the server port's sockets, and since when."""

    started: float
    commands: list[str]
    listening: bool
    connected_at: float | None
    recorders_seen: bool
    own_command: str = ""
    forks: set = None  #: pids seen forked from the run and not yet exec'd (a child being started)
    forks_after_listening: set = None


@dataclass(frozen=True)
class Moment:
    """When to send the SIGINT: ``after_s`` past the first time ``ready(tree)`` holds."""

    name: str
    ready: object  # Callable[[Tree], float | None]: the time it became true, else None
    after_s: float = 0.0
    client: str = "curl"


def _process(needle: str):
    def ready(tree: Tree) -> float | None:
        return time.monotonic() if any(needle in command for command in tree.commands) else None

    return ready


def _since_start(tree: Tree) -> float:
    return tree.started


def _listening(tree: Tree) -> float | None:
    return time.monotonic() if tree.listening else None


def _connected(tree: Tree) -> float | None:
    return tree.connected_at


def _fork(number: int, after_listening: bool = False):
    """The ``number``-th child seen between fork and exec (its command line still the run's own): Popen is
    waiting for the exec right then, the moment a signal used to leak the child."""

    def ready(tree: Tree) -> float | None:
        seen = tree.forks_after_listening if after_listening else tree.forks
        return time.monotonic() if len(seen) >= number else None

    return ready


def _recorders_gone(tree: Tree) -> float | None:
    gone = tree.recorders_seen and not any(c.startswith(("tcpdump", "strace")) for c in tree.commands)
    return time.monotonic() if gone else None


MOMENTS = [
    *(Moment(f"{s} s after start", _since_start, s) for s in (0.3, 0.9, 1.3)),
    *(Moment(f"fork number {n}, before its exec", _fork(n)) for n in (1, 2, 3, 4)),
    *(Moment(f"fork number {n} after listening, before its exec", _fork(n, True)) for n in (1, 2)),
    *(Moment(f"server spawned +{d}", _process("go-server-"), d) for d in (0.0, 0.005)),
    *(Moment(f"server listening +{d}", _listening, d) for d in (0.0, 0.01)),
    *(Moment(f"tcpdump spawned +{d}", _process("tcpdump"), d) for d in (0.0, 0.01)),
    *(Moment(f"strace spawned +{d}", _process("strace"), d) for d in (0.0, 0.001, 0.01)),  # strace's ptrace probe
    *(Moment(f"curl spawned +{d}", _process("curl"), d) for d in (0.0, 0.02)),
    *(Moment(f"connected +{d}", _connected, d) for d in (0.25, 0.45)),
    *(Moment(f"connected +{d} (drain, stop)", _connected, d) for d in (0.62, 0.7, 0.8)),
    *(Moment(f"recorders gone +{d} (analysis)", _recorders_gone, d) for d in (0.05, 0.3, 0.6)),
    *(Moment(f"chromium spawned +{d}", _process("chromium"), d, client="browser") for d in (0.0, 0.5, 1.5)),
]


def look(run_pid: int, port: int, tree: Tree) -> None:
    pids = procs.descendants(run_pid)[1:]
    commands = {pid: _cmdline(pid) for pid in pids if procs.is_running(pid)}
    tree.commands = list(commands.values())
    tree.own_command = tree.own_command or _cmdline(run_pid)
    forking = {pid for pid, command in commands.items() if command == tree.own_command}
    tree.forks |= forking
    if tree.listening:
        tree.forks_after_listening |= forking
    tree.recorders_seen |= any(c.startswith(("tcpdump", "strace")) for c in tree.commands)
    sockets = [s for s in procs.tcp_sockets() if s.local.endswith(f":{port}")]
    tree.listening = any(s.state == procs.TCP_LISTEN for s in sockets)
    if tree.connected_at is None and any(s.state == procs.TCP_ESTABLISHED for s in sockets):
        tree.connected_at = time.monotonic()


def _cmdline(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return ""
    return " ".join(Path(argv[0].decode()).name.split() + [a.decode(errors="replace") for a in argv[1:]])


def interrupt_once(moment: Moment, out: Path, user, timeout_s: float = 60) -> dict:
    """One run interrupted at ``moment``; what the reaper, the bundle and the CLI said."""
    port = procs.free_port()
    server = "python-raw" if moment.client == "browser" else "go"
    argv = [str(ABORTSCOPE), "run", "--out", str(out), "--port", str(port), "--server", server,
            "--client", moment.client, "--handler-delay", str(HANDLER_DELAY_S), "--abort-after", "0.1"]  # fmt: skip
    reaper = subprocess.Popen([sys.executable, "-m", "tests.capture.reaper", "--", *argv], cwd=conftest.REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=run_env(user))  # fmt: skip
    run_pid = int(reaper.stdout.readline())
    tree = Tree(started=time.monotonic(), commands=[], listening=False, connected_at=None, recorders_seen=False,
                forks=set(), forks_after_listening=set())
    fire_at, signalled = None, False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and procs.is_running(run_pid):
        look(run_pid, port, tree)
        if fire_at is None and (since := moment.ready(tree)) is not None:
            fire_at = since + moment.after_s
        if fire_at is not None and time.monotonic() >= fire_at:
            try:
                os.killpg(run_pid, signal.SIGINT)  # the terminal's Ctrl-C: the run's whole process group
                signalled = True
            except ProcessLookupError:
                pass
            break
        time.sleep(0.0005)
    report, stderr = reaper.communicate(timeout=timeout_s)
    return {"moment": moment.name, "signalled": signalled, "port": port, "stderr": stderr,
            **json.loads(report.strip().splitlines()[-1])}  # fmt: skip


def check_trial(trial: dict, out: Path, user) -> str | None:
    """The checks of one trial (module docstring); returns the phase the run was interrupted in (None: no bundle)."""
    where = f"{trial['moment']}: {trial['stderr'][-400:]}"
    assert trial["left"] == [], f"{where}: processes left running: {trial['left']}"
    assert abortscope_instances(f"abortscope-*-{trial['port']}*") == [], where
    if not trial["signalled"]:
        return None
    assert trial["exit"] in (130, -signal.SIGINT), where  # -2: interrupted while Python was still importing
    if not out.exists():
        return "before preflight"
    meta = read_meta(out)
    assert meta, f"{where}: a bundle directory without meta.json"
    assert meta["interrupted"] is True and "SIGINT" in meta["reason"], where
    assert meta["reason"] == f"SIGINT during phase {meta['phase']}", where
    assert meta["pids_alive_after_run"] == [] and meta["stray_children_killed"] == [], where
    assert not [pid for pid in meta["pids"].values() if procs.is_running(pid)], where
    assert trial["exit"] == 130 and "interrupted" in trial["stderr"], where
    owners = {(p.name, p.lstat().st_uid) for p in [out, *out.iterdir()]}
    assert {(name, uid) for name, uid in owners if uid != user.uid} == set(), f"{where}: not the user's: {owners}"
    if meta["phase"] == "analysis":
        assert meta["analysis"]["error"].startswith("interrupted") and "abortscope analyze" in trial["stderr"], where
    return meta["phase"]


def test_sigint_at_every_phase_leaves_nothing_running_and_a_truthful_bundle(tmp_path, local_user):
    conftest.require_tools("go", "curl", "tcpdump", "strace", "chromium")
    phases: collections.Counter = collections.Counter()
    signalled = 0
    for number, moment in enumerate(MOMENTS):
        out = tmp_path / f"run-{number:02d}"
        trial = interrupt_once(moment, out, local_user)
        phases[check_trial(trial, out, local_user)] += 1
        signalled += trial["signalled"]
    print(f"\n{len(MOMENTS)} runs, {signalled} interrupted; by phase: {dict(phases)}")
    assert signalled >= 20, f"only {signalled} runs were interrupted (a moment that never came does not count)"
    assert MUST_HIT <= set(phases), f"phases hit: {dict(phases)}"
