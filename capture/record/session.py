"""One recording of the user's own server into a run bundle (the layout of `abortscope run`).

Phases (meta["phase"] says where a recording stopped):

    preflight   root, tools, options, the bundle directory (held open, as in `run`)
    target      --pid: find the process, its workers and its port; -- CMD: start the command as the
                invoking user and wait until it listens
    recorders   packets (tcpdump), kernel tracepoints, syscalls (strace or the kernel's), followed logs
    recording   until Ctrl-C, --duration, --until-rst, a limit, or the target's end (capture.record.stop)
    drain       followed logs, strace (it detaches: the target goes on), tracefs, tcpdump, in that order
    stop        -- CMD only: the command's process group is terminated (never in --pid mode)
    analysis    the after-run hook (the analyzer), as in `run`
    done        the bundle published into --out and handed to the invoking user

Ctrl-C is the ordinary end of a recording: it stops the recording phase and the
bundle is written as after --duration (meta["record"]["stopped_by"] =
"signal"); a Ctrl-C in any other phase is an interruption, as in `run`. In
``--pid`` mode nothing of the target is ever signalled: strace detaches on
SIGINT, tracefs and tcpdump never touch it.
"""

from __future__ import annotations

import subprocess
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from analysis import bundle as names
from analysis.bundle_outputs import AfterRun
from analysis.errors import AbortscopeError
from capture import procs
from capture.bundle_session import BundleSession
from capture.interrupts import Received, deferred, signals_as_interrupts
from capture.phases import RecordPhase
from capture.privileges import require_root, require_tools
from capture.record import target as targets
from capture.record.follow import Copier, FollowError, LogFollower
from capture.record.stop import REASONS, StopWhen
from capture.recorders.strace import StraceRecorder
from capture.recorders.tcpdump import TcpdumpCapture
from capture.recorders.tracefs import TracefsRecorder

SYSCALL_RECORDERS = ("strace", "kernel", "none")
POLL_S = 0.05


@dataclass(frozen=True)
class AppLog:
    """One --applog: the file, and how to read it (format None: detected when the bundle is analyzed)."""

    path: Path
    format: str | None = None
    options: dict = field(default_factory=dict)  # e.g. {"pattern": REGEX}, {"ts_field": ..., "remote_field": ...}
    tz: str | None = None


@dataclass(frozen=True)
class RecordParams:
    out_dir: Path
    pid: int | None = None
    command: tuple[str, ...] = ()
    port: int | None = None
    duration_s: float | None = None
    until_rst: bool = False
    max_packets: int | None = None
    max_bytes: int | None = None
    iface: str | None = None  # None: lo when the port listens on loopback only, else any
    syscalls: str = "strace"
    kernel: bool = True  # the TCP tracepoints on the port
    applogs: tuple[AppLog, ...] = ()
    command_log: AppLog = AppLog(Path(names.COMMAND_LOG))  # how to read -- CMD's output
    listen_timeout_s: float = 30.0

    def check(self) -> None:
        if self.pid is not None and self.command:
            raise AbortscopeError("name the server one way: --pid PID, -- CMD ARGS..., or --port P alone")
        if self.pid is None and not self.command and self.port is None:
            raise AbortscopeError("name the server: --pid PID, -- CMD ARGS..., or --port P (whoever listens there)")
        if self.syscalls not in SYSCALL_RECORDERS:
            raise AbortscopeError(f"--syscalls must be one of {', '.join(SYSCALL_RECORDERS)}")
        if len(self.applogs) > names.MAX_APPLOGS:
            raise AbortscopeError(f"at most {names.MAX_APPLOGS} --applog files")

    def tools(self) -> list[str]:
        return ["tcpdump", *(["strace"] if self.syscalls == "strace" else []), *(["tail"] if self.applogs else [])]


@dataclass
class RecordResult:
    out_dir: Path
    meta: dict


class RecordInterrupted(AbortscopeError):
    """A signal outside the recording phase cut the recording short; the bundle holds what was recorded."""


def record(params: RecordParams, on_phase: Callable[[str], None] = lambda phase: None, argv: list[str] | None = None,
           after_run: Callable[[Path], AfterRun] | None = None, force: bool = False) -> RecordResult:
    """Record once; never leaves a process of ours behind, never stops a --pid target. Raises only after
    the bundle is published (NeedsRootError/MissingToolError/BundleError/TargetError before anything starts)."""
    with signals_as_interrupts() as received:
        session = _Session(params, on_phase, after_run)
        error: BaseException | None = None
        try:
            session.preflight(argv, force)
            session.execute(received)
        except BaseException as exc:  # noqa: BLE001 - recorded in meta, then re-raised
            error = exc
            session.interrupted(exc, received)
        error = session.finish(received, error)
    if error is not None:
        raise session.as_raised(error)
    return RecordResult(Path(params.out_dir), session.meta)


class _Session(BundleSession):
    """The state of one recording (capture.bundle_session ends it)."""

    def __init__(self, params: RecordParams, on_phase, after_run) -> None:
        super().__init__(params, on_phase, after_run)
        self.followers: list[LogFollower] = []
        self.target: targets.Target | None = None
        self._signals_seen = 0
        self.meta: dict = {
            "record": {"mode": "command" if params.command else "pid" if params.pid is not None else "port",
                       "pid": params.pid,
                       "command": list(params.command), "syscalls": params.syscalls, "stopped_by": None,
                       "limits": {"duration_s": params.duration_s, "until_rst": params.until_rst,
                                  "max_packets": params.max_packets, "max_bytes": params.max_bytes},
                       "cut": None},
            "started_ns": time.time_ns(), "finished_ns": None, "interrupted": False, "reason": None,
            "phase": "preflight", "phase_started_ns": {"preflight": time.time_ns()},
            "run_as": {"uid": self.invoking.uid, "gid": self.invoking.gid, "name": self.invoking.name},
            "server": {"impl": "recorded", "host": None, "port": None, "pid": params.pid},
            "recorders": {}, "clocks": {}, "pids": {}, "applogs": [], "warnings": [],
        }

    def preflight(self, argv: list[str] | None, force: bool) -> None:
        self.params.check()
        require_root(argv)
        require_tools(self.params.tools())
        if not self.params.command:  # refused before anything is written: no such pid, no single port
            pid = self.params.pid if self.params.pid is not None else targets.owner_of_port(self.params.port)
            self._found(targets.find(pid, self.params.port))
        self._open_out(self.params.out_dir, force, "abortscope-record-")

    def _found(self, target: targets.Target) -> None:
        self.target = target
        iface = self.params.iface or target.default_iface()
        host = targets._host(target.listeners[0]) if target.listeners else None
        self.meta["record"].update(target=target.describe(), pids=list(target.pids), port=target.port,
                                   port_found=target.port_found, listeners=list(target.listeners), iface=iface)
        self.meta["server"].update(host=host, port=target.port, pid=target.pid)
        self.meta["record"]["pid"] = target.pid

    def execute(self, received: Received) -> None:
        with ExitStack() as stack:  # unwinds in reverse: logs, syscalls, kernel, capture, the command
            self._phase(RecordPhase.TARGET)
            if self.params.command:
                self._start_command(stack)
            self._phase(RecordPhase.RECORDERS)
            capture = TcpdumpCapture(self.bundle.capture, self.target.port, iface=self.meta["record"]["iface"],
                                     max_packets=self.params.max_packets)
            self._enter(stack, capture, required=True)
            pids = self.target.pids
            if self.params.kernel or self.params.syscalls == "kernel":
                tracefs = TracefsRecorder(self.target.port, self.bundle.kernel, server_pid=self.target.pid,
                                          also_pids=pids, socket_addresses=self.params.syscalls == "kernel")
                self._enter(stack, tracefs, required=self.params.syscalls == "kernel")
            if self.params.syscalls == "strace":
                self._enter(stack, StraceRecorder(self.target.pid, self.bundle.strace, also=pids), required=False)
            for number, log in enumerate(self.params.applogs, start=1):
                self._follow(stack, log, names.APPLOG_FILES[number - 1])
            self._phase(RecordPhase.RECORDING)
            stop = StopWhen(self.params.duration_s, self.params.until_rst, self.params.max_bytes,
                            self.bundle.capture, self.target.pid)
            try:
                while (why := stop.reason(capture.exited, self.params.max_packets)) is None:
                    time.sleep(POLL_S)
            except KeyboardInterrupt:  # Ctrl-C is how a recording ends
                why = "signal"  # received.names keeps it: a second Ctrl-C during the drain is only noted
            self._stopped(why)
            self._signals_seen = len(received.names)  # the Ctrl-C that ended the recording is no interruption
            self._phase(RecordPhase.DRAIN)

    def _start_command(self, stack: ExitStack) -> None:
        """The command as the invoking user, its output copied into command.log; waits until it listens."""
        log = self.params.command_log
        with deferred():
            child = procs.spawn(self.params.command, user=self.invoking, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, cwd=Path.cwd())
            copier = Copier(child.proc.stdout, self.bundle.root / names.COMMAND_LOG)
            stack.callback(self._finish_command_log, copier, log)
            stack.callback(self._stop_command, child)
        self.meta["pids"]["command"] = child.pid
        self.meta["record"]["command_uid"] = int(procs.proc_status(child.pid).get("Uid", "-1").split()[0])
        self._found(targets.wait_listening(child.pid, self.params.port, self.params.listen_timeout_s))

    def _stop_command(self, child: procs.Child) -> None:
        self._phase(RecordPhase.STOP)
        self.meta["record"]["command_exit"] = child.poll()  # None: still running when the recording ended
        child.terminate()

    def _finish_command_log(self, copier: Copier, log: AppLog) -> None:
        copier.finish()
        self._note_log(log, names.COMMAND_LOG, {"followed": "the command's stdout and stderr", "lines": copier.lines,
                                                "bytes": copier.bytes})

    def _follow(self, stack: ExitStack, log: AppLog, file_name: str) -> None:
        follower = LogFollower(log.path, self.bundle.root / file_name, self.invoking)
        self.followers.append(follower)
        stack.callback(self._finish_follower, follower, log, file_name)
        try:
            follower.start()
        except FollowError as exc:
            raise AbortscopeError(str(exc)) from exc
        self.meta["pids"][f"tail {file_name}"] = follower.pid

    def _finish_follower(self, follower: LogFollower, log: AppLog, file_name: str) -> None:
        follower.stop()
        self._note_log(log, file_name, follower.status())

    def _note_log(self, log: AppLog, file_name: str, status: dict) -> None:
        self.meta["applogs"].append({"file": file_name, "format": log.format, "options": dict(log.options),
                                     "tz": log.tz, **status})

    def _stopped(self, why: str) -> None:
        self.meta["record"]["stopped_by"] = why
        self.meta["record"]["stopped_because"] = REASONS[why]
        self.meta["record"]["recorded_s"] = round((time.time_ns() - self.meta["phase_started_ns"]["recording"]) / 1e9, 3)
        if why in ("max-packets", "max-bytes"):
            limit = self.params.max_packets if why == "max-packets" else self.params.max_bytes
            self.meta["record"]["cut"] = f"{why} {limit}: the recording stopped there; later traffic was not recorded"

    def _late_signal(self, received: Received) -> KeyboardInterrupt | None:
        """A signal after the one that ended the recording (if any), while finishing: an interruption."""
        if len(received.names) <= self._signals_seen or self.meta["interrupted"]:
            return None
        late = KeyboardInterrupt(received.names[-1])
        self.interrupted(late, received)
        return late

    def _settle(self) -> None:
        self._recorders_status()
        wanted = {"capture": True, "kernel": self.params.kernel or self.params.syscalls == "kernel",
                  "strace": self.params.syscalls == "strace"}
        for name, on in wanted.items():
            why = f"stopped before it started (phase {self.meta['phase']})" if on else "not asked for"
            self.meta["recorders"].setdefault(name, {"ran": False, "why": why})
        self._reap()
        if not self.params.command and self.target is not None:
            self.meta["record"]["target_running_after"] = procs.is_running(self.target.pid)

    def as_raised(self, error: BaseException) -> BaseException:
        where = self.kept_in or self.params.out_dir
        if isinstance(error, KeyboardInterrupt):
            return RecordInterrupted(f"{self.meta['reason']}; what was recorded is in {where}")
        return error
