"""Writing a run bundle: the directory, meta.json, and handing the files to the invoking user.

The layout and meta keys the analyzer relies on are documented in
analysis/bundle.py. meta.json is written atomically (temp file + rename), so
a reader never sees half of it, and rewritten at the end of every run,
interrupted or not.

Under sudo, everything in the bundle is chowned to SUDO_UID/SUDO_GID, so the
user can delete, move and re-analyse it without root.

meta.json (what capture.scenario writes; times are epoch ns):

    format_version        1
    scenario              the ScenarioParams of the run (size, abort_after_s, handler_delay_s, ...)
    started_ns, finished_ns
    interrupted, reason   true + "SIGINT during phase handler" (or the failure) when cut short
    phase                 the last phase reached (server, recorders, client, handler, drain, stop, done)
    phase_started_ns      phase -> when it began
    run_as                {uid, gid, name}: who the server and client ran as
    server                {impl, host, port, pid, argv, uid}
    client                {impl, pid, exit_code, signal, uid, argv, started_ns, abort_ns, ended_ns, bytes_received}
    proxy                 with --proxy only: {impl, host, port, pid, argv, log}; the client talks to its port
    pids                  role -> pid of every process the run started (server, proxy, client, capture, strace)
    pids_alive_after_run  those still running at the end: always [] unless something went badly wrong
    recorders             name -> {"ran": bool, "why": str|None, ...}; names: capture, kernel, strace
                          capture: backend, filter, written, captured, received_by_filter, dropped_by_kernel
                          kernel: instance, events (event -> filter), events_recorded, overrun
                          strace: traced_pid, threads_attached, syscalls, lines
    clocks                {trace_clock, trace_to_realtime_ns, uncertainty_ns} (empty without the kernel recorder)
    handler_wait          "handler done" | "server exited" | "deadline" (the handler had not logged its end by then)
    versions              kernel, python, scapy, go, curl, tcpdump, libpcap, tshark, dumpcap, strace, node
    summary               the lines `abortscope run` printed
    analysis              {"written": [...], "error": str|None} from the after-run hook (analyzer)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from analysis.bundle import LADDER_SVG, META, TIMELINE_CSV, TIMELINE_PNG, BundlePaths
from analysis.errors import BundleError
from capture.users import User

META_FORMAT_VERSION = 1


#: files a run writes besides the analyzer's contract files (cleared before a new run)
RUN_EXTRAS = ("server.log", "capture.pcap.pcapng", TIMELINE_CSV, TIMELINE_PNG, LADDER_SVG)


def prepare_bundle_dir(out_dir: Path) -> tuple[BundlePaths, list[Path]]:
    """Create the bundle directory, and clear the files of an earlier run in it.

    A new run never mixes with an old one's files. Returns the paths and the
    directories that had to be created (parents included): those are handed to
    the invoking user too, or they could not remove their own `runs/`.
    """
    out_dir = Path(out_dir).absolute()
    created = [d for d in [out_dir, *out_dir.parents] if not d.exists()]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BundleError(f"cannot create the bundle directory {out_dir}: {exc.strerror}") from exc
    paths = BundlePaths(out_dir)
    for stale in (paths.capture, paths.app, paths.strace, paths.kernel, paths.meta, *(out_dir / n for n in RUN_EXTRAS)):
        if stale.exists():
            stale.unlink()
    return paths, created


def write_meta(out_dir: Path, meta: dict) -> Path:
    path = Path(out_dir) / META
    tmp = path.with_name(META + ".tmp")
    tmp.write_text(json.dumps({"format_version": META_FORMAT_VERSION, **meta}, indent=2, default=str) + "\n")
    os.replace(tmp, path)
    return path


def hand_over(out_dir: Path, user: User, created: list[Path] = ()) -> list[str]:
    """chown the bundle directory, everything in it and the directories we `created` to `user`.

    Returns the paths that failed (nothing to do unless we are root acting for someone else).
    """
    if user.is_current or os.geteuid() != 0:
        return []
    uid, gid = user.uid, user.gid
    failed = []
    root = Path(out_dir)
    for path in [*created, root, *root.rglob("*")]:
        try:
            os.chown(path, uid, gid, follow_symlinks=False)
        except OSError as exc:
            failed.append(f"{path}: {exc.strerror}")
    return failed
