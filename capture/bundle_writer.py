"""Writing a run bundle: meta.json, and the bundle directory root fills for the invoking user.

The layout and meta keys the analyzer relies on are documented in
analysis/bundle.py. A run records into a private staging directory and
publishes the bundle into ``--out`` at the end (capture.out_dir: no link in
``--out`` is ever followed, only what the run wrote changes owner, nothing
else there is touched). meta.json is published last, so a directory that
has it holds a whole bundle; it is written at the end of every run,
interrupted or not.

Under sudo, the files the run wrote and the directories it created belong
to SUDO_UID/SUDO_GID, so the user can delete, move and re-analyse them
without root.

meta.json (what capture.scenario writes; times are epoch ns):

    format_version        1
    scenario              the ScenarioParams of the run (size, abort_after_s, handler_delay_s, ...)
    started_ns, finished_ns
    interrupted, reason   true + "SIGINT during phase handler" (or the failure) when cut short
    phase                 the last phase reached (preflight, build, server, recorders, client, handler,
                          drain, stop, analysis, done)
    phase_started_ns      phase -> when it began
    run_as                {uid, gid, name}: who the server and client ran as
    server                {impl, host, port, pid, argv, uid}
    client                {impl, pid, exit_code, signal, uid, argv, started_ns, abort_ns, ended_ns, bytes_received}
    proxy                 with --proxy only: {impl, host, port, pid, argv, log}; the client talks to its port
    pids                  role -> pid of every process the run started (server, proxy, client, capture, strace)
    pids_alive_after_run  those still running at the end: always [] unless something went badly wrong
    stray_children_killed children of ours that nothing had stopped, killed at the end: always []
    recorders             name -> {"ran": bool, "why": str|None, ...}; names: capture, kernel, strace
                          capture: backend, filter, written, captured, received_by_filter, dropped_by_kernel
                          kernel: instance, events (event -> how it is kept to this run), events_recorded,
                                  dropped_lines, overrun, instance_removed, tracefs
                          strace: traced_pid, threads_attached, syscalls, lines
    clocks                {trace_clock, trace_to_realtime_ns, uncertainty_ns} (empty without the kernel recorder)
    handler_wait          "handler done" | "server exited" | "deadline" (the handler had not logged its end by then)
    warnings              what the user should know (a capture interface that cannot see loopback, no packets)
    versions              kernel, python, scapy, go, curl, tcpdump, libpcap, tshark, dumpcap, strace, node
    summary               the run summary's facts per layer (capture.run_summary.RunSummary.as_data: app {error},
                          wire {packets, truncated, first_rst {by, frame, t_rel_s}}, syscall {failing, errno}; a layer
                          not recorded: {not_recorded: why}) and how they were read (read); {error} when none could be
                          made; `abortscope run` prints the lines rendered from them (capture.run_summary.lines_of reads both
                          this and the list of lines that bundles written before hold: sample_pcaps/*/meta.json)
    analysis              {"written": [...], "error": str|None} from the after-run hook (analyzer)
    chown_failed          directories that could not be handed to the invoking user (absent when none)
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from analysis.bundle import (APP_EVENTS, ARRIVAL_SUFFIX, CAPTURE, FOLLOWED_LOGS, KERNEL, LADDER_SVG, META, PROXY_LOG,
                             SERVER_LOG, STRACE, TIMELINE_CSV, TIMELINE_PNG)
from capture.out_dir import OutDir, is_regular
from capture.users import User

META_FORMAT_VERSION = 1
#: what the analyzer writes after the run (dropped when the analysis failed or was interrupted: no half file)
ANALYSIS_FILES = (TIMELINE_CSV, TIMELINE_PNG, LADDER_SVG)
#: every file a run writes; the only names ever replaced or removed in --out
BUNDLE_FILES = (CAPTURE, APP_EVENTS, STRACE, KERNEL, SERVER_LOG, PROXY_LOG, *ANALYSIS_FILES,
                *(name + end for name in FOLLOWED_LOGS for end in ("", ARRIVAL_SUFFIX)), META)


def write_meta(out_dir: Path, meta: dict) -> Path:
    """meta.json in ``out_dir`` (the run's private staging directory), written whole or not at all."""
    path = Path(out_dir) / META
    tmp = path.with_name(META + ".tmp")
    tmp.write_text(json.dumps({"format_version": META_FORMAT_VERSION, **meta}, indent=2, default=str) + "\n")
    os.replace(tmp, path)
    return path


def holds_a_bundle(dir_fd: int, entries: list[str]) -> bool:
    """An earlier run's bundle: its meta.json is a file (not a link)."""
    return META in entries and is_regular(dir_fd, META)


def open_bundle_dir(path: Path, owner: User, force: bool = False) -> OutDir:
    """``--out``, checked and held open (BundleError when it cannot be used: capture.out_dir says which)."""
    return OutDir.open(path, owner, claims=holds_a_bundle, names=BUNDLE_FILES, what="bundle", force=force)


def publish_or_keep(out: OutDir, stage: Path) -> str | None:
    """publish_bundle, then the stage removed and ``out`` closed; when ``out`` refuses, the stage is kept and
    the problem returned in words."""
    try:
        publish_bundle(out, stage)
    except OSError as exc:
        return (f"cannot write the bundle into {out.path}: {exc.strerror or exc}; "
                f"what was recorded is kept in {stage}")  # fmt: skip
    finally:
        out.close()
    shutil.rmtree(stage, ignore_errors=True)
    return None


def publish_bundle(out: OutDir, stage: Path) -> None:
    """Move the staged bundle into ``out``: meta.json first removed and last written, the earlier run's
    other bundle files replaced or removed, nothing else touched. OSError when ``out`` refuses."""
    staged = [name for name in BUNDLE_FILES if (stage / name).is_file()]
    out.remove([META])  # until the new meta.json is in, the directory does not claim to hold a bundle
    for name in staged:
        if name != META:
            out.publish(stage / name, name)
    out.remove(set(out.earlier) - set(staged))
    if META in staged:
        out.publish(stage / META, META)
