"""The event logs beside a capture (strace, kernel trace, app events, application log, JSON lines) -> timeline rows.

The reading shell of analysis.api.load for them, as read_packets is for the
capture. Rules:
- every good line is kept; damaged lines are skipped and counted, one
  warning per file (events._lines);
- a file that cannot be read (permissions, an I/O error), a file with no
  readable line, or a kernel trace whose clock offset is missing or bad,
  is left out with a warning: the capture and the other sources stay;
- an application log's times carry no zone: ``tz`` names it; without it, a
  run bundle's server.log is read in its documented zone (UTC) and any
  other log is read as UTC with a warning saying so. A ``tz`` that names no
  zone is a ClockError (a usage error, not damage).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis import bundle, clock
from analysis.errors import ClockError, EventParseError
from analysis.events import app_jsonl, applog, jsonl, kernel
from analysis.events._lines import LineReport
from analysis.events.strace import parse as strace_parse
from analysis.schema import COLUMN_NAMES


@dataclass(frozen=True)
class SideFiles:
    """The event logs to read (None: not given, and none in the bundle)."""

    strace: Path | None = None
    kernel: Path | None = None
    app: Path | None = None
    applog: Path | None = None
    jsonl: Path | None = None


@dataclass
class SideRows:
    """Each source's rows, in the order read, and what went wrong, in words."""

    frames: list[pd.DataFrame] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, source: str, path: Path, what: str, parse: Callable[[str, LineReport], pd.DataFrame]) -> pd.DataFrame | None:
        """Read and parse one file; its rows (None when it was left out)."""
        lines = LineReport()
        try:
            rows = parse(read_text(path, what), lines)
        except (EventParseError, ClockError) as exc:
            self.warnings.append(f"{path}: {exc}; left out of the timeline (the other sources are kept)")
            return None
        self.warnings.extend(lines.warnings(str(path)))
        self.sources.append(source)
        self.frames.append(rows[list(COLUMN_NAMES)])  # the schema's columns (strace's come with its pid)
        return rows


def read_text(path: Path, what: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError as exc:
        raise EventParseError(f"{path}: cannot read the {what} file ({exc.strerror or exc})") from exc


def read_side_files(files: SideFiles, flows: pd.DataFrame, meta: dict, tz: str | None = None,
                    trace_to_realtime_ns: int | None = None, bundle_root: Path | None = None) -> SideRows:
    """Every given event log's timeline rows (sources named as analysis.events.SOURCES names them)."""
    side = SideRows()
    strace_rows = None
    if files.strace is not None:
        # the harness traces the server (analysis/bundle.py); a user's strace is assumed to be of the server too
        # with_pid: the kernel parser ties sock_send_length through the thread
        strace_rows = side.add("strace", files.strace, "strace", lambda text, lines: strace_parse(
            text, flows=flows, actor="server", with_pid=True, lines=lines))
    if files.kernel is not None:
        def parse_kernel(text: str, lines: LineReport) -> pd.DataFrame:
            offset = trace_to_realtime_ns if trace_to_realtime_ns is not None else clock.trace_offset_from_meta(meta)
            return kernel.parse(text, trace_to_realtime_ns=offset, flows=flows, syscalls=strace_rows, lines=lines)

        side.add("kernel", files.kernel, "kernel trace", parse_kernel)
    if files.app is not None:
        side.add("app", files.app, "app events", lambda text, lines: app_jsonl.parse(text, flows=flows, lines=lines))
    if files.applog is not None:
        zone = applog_zone(files.applog, tz, bundle_root, side.warnings)
        side.add("applog", files.applog, "application log",
                 lambda text, lines: applog.parse(text, flows=flows, tz=zone, lines=lines))
    if files.jsonl is not None:
        side.add("jsonl", files.jsonl, "JSON lines", lambda text, lines: jsonl.parse(text, flows=flows, lines=lines))
    return side


def applog_zone(path: Path, tz: str | None, bundle_root: Path | None, warnings: list[str]) -> str:
    """The zone of an application log's times (module docstring); a warning when it had to be assumed."""
    if tz is not None:
        return clock.checked_zone(tz)
    if bundle_root is not None and Path(path).resolve() == bundle.BundlePaths(bundle_root).server_log.resolve():
        return bundle.SERVER_LOG_ZONE
    warnings.append(f"{path}: its times carry no zone; read as UTC (the zone of a run bundle's server.log). Go's "
                    "log writes local time unless told log.LUTC: give --tz ZONE (e.g. --tz Europe/Paris) if it does")
    return "UTC"
