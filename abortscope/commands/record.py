"""`abortscope record`: record the user's own server (by pid or by command) into a run bundle."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from abortscope.commands.run import EXIT_INTERRUPTED
from abortscope.commands.server_options import FORCE
from abortscope.console import err, fail, out, warn
from analysis.bundle_outputs import write_outputs
from analysis.errors import AbortscopeError, BundleError
from capture.phases import RecordPhase


class Syscalls(str, Enum):
    strace = "strace"
    kernel = "kernel"
    none = "none"


PHASE_TEXT: dict[RecordPhase, str] = {
    RecordPhase.TARGET: "finding the server (its processes and its port)",
    RecordPhase.RECORDERS: "starting the recorders",
    RecordPhase.RECORDING: "recording: Ctrl-C stops (the server keeps running)",
    RecordPhase.DRAIN: "draining the recorders",
    RecordPhase.STOP: "stopping the command",
    RecordPhase.ANALYSIS: "analyzing the recording (Ctrl-C skips it; the bundle is kept)",
    RecordPhase.DONE: "writing the bundle",
}


def record(
    command: Optional[List[str]] = typer.Argument(None, metavar="[-- CMD ARGS...]",
                                                  help="Start this command as the invoking user and record it."),
    out_dir: Path = typer.Option(..., "--out", help="Bundle directory to write (created if missing)."),
    pid: Optional[int] = typer.Option(None, "--pid", min=1, help="Attach to this running process (and its children)."),
    port: Optional[int] = typer.Option(None, "--port", min=1, max=65535,
                                       help="The server's TCP port (default: its only listening port); alone: "
                                            "record whoever listens there."),
    duration: Optional[float] = typer.Option(None, "--duration", min=0.0, help="Stop after this many seconds."),
    until_rst: bool = typer.Option(False, "--until-rst", help="Stop a short moment after the first RST on the port."),
    max_packets: Optional[int] = typer.Option(None, "--max-packets", min=1, help="Stop after this many packets."),
    max_bytes: Optional[int] = typer.Option(None, "--max-bytes", min=1, help="Stop when the capture file reaches this size."),
    iface: Optional[str] = typer.Option(None, "--iface", help="lo, any or an interface (default: lo when the port "
                                        "listens on loopback only, else any)."),
    syscalls: Syscalls = typer.Option(Syscalls.strace, "--syscalls", help="strace (ptrace), kernel (tracefs "
                                      "sock_send_length/sock_recv_length, no ptrace) or none."),
    no_kernel: bool = typer.Option(False, "--no-kernel", help="Do not record the kernel's TCP tracepoints."),
    applog: Optional[List[Path]] = typer.Option(None, "--applog", help="Follow this log from its current end "
                                                "(repeatable)."),
    applog_format: Optional[List[str]] = typer.Option(None, "--applog-format", help="Format of --applog (one for "
                                                      "all, or one per --applog): auto, applog (Go), nginx, "
                                                      "nginx_access, python, node, java, jsonl, pattern."),
    applog_pattern: Optional[str] = typer.Option(None, "--applog-pattern", help="A regex with named groups ts, local, "
                                                 "remote, errno, message for --applog-format pattern."),
    tz: Optional[str] = typer.Option(None, "--tz", help="Zone of the logs' times when they carry none (default: "
                                     "this machine's)."),
    force: bool = FORCE,
) -> None:
    """Record your own server: packets, kernel events, syscalls and its logs, into a run bundle."""
    from capture.record.logs import applogs_from_options
    from capture.record.session import RecordParams

    try:
        logs, command_log = applogs_from_options(applog or [], applog_format or [], applog_pattern, tz)
        params = RecordParams(out_dir=out_dir, pid=pid, command=tuple(command or ()), port=port, duration_s=duration,
                              until_rst=until_rst, max_packets=max_packets, max_bytes=max_bytes, iface=iface,
                              syscalls=syscalls.value, kernel=not no_kernel, applogs=logs, command_log=command_log)
        params.check()
    except AbortscopeError as exc:
        raise fail(str(exc), code=2)
    _report(_record(params, force).meta, out_dir)


def _record(params, force: bool):
    """The recording, its phases said on the terminal; every way it can fail as one line and an exit code."""
    from capture.privileges import MissingToolError, NeedsRootError
    from capture.record.session import RecordInterrupted
    from capture.record.session import record as record_session
    from capture.record.target import TargetError

    try:
        with err.status("preflight") as status:

            def on_phase(phase: RecordPhase) -> None:
                status.update(PHASE_TEXT[phase])
                if phase == RecordPhase.RECORDING:  # said on its own line, terminal or not: the user may start the traffic now
                    err.print(PHASE_TEXT[phase], soft_wrap=True)

            result = record_session(params, on_phase=on_phase, argv=sys.argv, after_run=write_outputs, force=force)
    except (NeedsRootError, MissingToolError, BundleError, TargetError) as exc:
        raise fail(str(exc))
    except RecordInterrupted as exc:
        raise fail(f"interrupted: {exc}", code=EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        raise fail("interrupted before the recording started; nothing was recorded", code=EXIT_INTERRUPTED)
    except (AbortscopeError, OSError) as exc:
        raise fail(f"record failed: {exc}")
    return result


def _report(meta: dict, out_dir: Path) -> None:
    rec = meta["record"]
    out.print(f"recorded {rec.get('target', '?')} on {rec.get('iface')} for {rec.get('recorded_s')} s -> {out_dir}",
              soft_wrap=True)
    out.print(f"  stopped by: {rec.get('stopped_because')}", soft_wrap=True)
    capture = meta["recorders"].get("capture", {})
    out.print(f"  packets: {capture.get('written')}", soft_wrap=True)
    for log in meta.get("applogs", []):
        out.print(f"  {log['file']}: {log['lines']} lines from {log['followed']}", soft_wrap=True)
    if rec.get("target_running_after") is not None:
        out.print(f"  pid {rec['pid']} {'still running' if rec['target_running_after'] else 'is gone'}", soft_wrap=True)
    if rec.get("cut"):
        warn(f"cut: {rec['cut']}")
    for name, status in meta["recorders"].items():
        if not status.get("ran") and status.get("why") != "not asked for":
            warn(f"{name} not recorded: {status.get('why')}")
    for text in meta.get("warnings", []):
        warn(text)
    analysis = meta.get("analysis") or {}
    if analysis.get("error"):
        warn(f"no timeline or figures: the analysis failed ({analysis['error']}); run `abortscope analyze {out_dir}`")
