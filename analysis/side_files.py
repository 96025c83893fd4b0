"""The event logs beside a capture (strace, kernel trace, app events, application logs, ...) -> timeline rows.

The reading shell of analysis.api.load for them, as read_packets is for the
capture. It reads whatever the registry (analysis.events.SOURCES) lists, in
its order, for the files given by source name. Rules:
- every good line is kept; damaged lines are skipped and counted, one
  warning per file (events._lines);
- a file that cannot be read (permissions, an I/O error), a file with no
  readable line, or a kernel trace whose clock offset is missing or bad,
  is left out with a warning: the capture and the other sources stay;
- a wall-clock log's times carry no zone: ``tz`` names it; without it, a
  run bundle's server.log is read in its documented zone (UTC) and any
  other log is read as UTC with a warning saying so. A ``tz`` that names no
  zone is a ClockError (a usage error, not damage).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis import bundle, clock
from analysis.errors import ClockError, EventParseError
from analysis.events import SOURCES, EventSource, ParseContext
from analysis.events._lines import LineReport
from analysis.events.detect import detect
from analysis.schema import COLUMN_NAMES


@dataclass
class SideRows:
    """Each file's rows, in the order read, with its source's name, and what went wrong, in words."""

    frames: list[pd.DataFrame] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def read_text(path: Path, what: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError as exc:
        raise EventParseError(f"{path}: cannot read the {what} file ({exc.strerror or exc})") from exc


def read_side_files(files: Mapping[str, Sequence[Path]], flows: pd.DataFrame, meta: dict, tz: str | None = None,
                    trace_to_realtime_ns: int | None = None, bundle_root: Path | None = None) -> SideRows:
    """Every given event log's timeline rows: ``files`` maps a source name (analysis.events.SOURCES) to its files."""
    unknown = sorted(set(files) - set(SOURCES))
    if unknown:
        raise EventParseError(f"no event source named {', '.join(unknown)}: known are {', '.join(SOURCES)}")
    side = SideRows()
    earlier: dict[str, pd.DataFrame] = {}
    for name, source in SOURCES.items():
        for path in files.get(name, ()):
            zone = applog_zone(path, tz, bundle_root, side.warnings) if source.wall_clock else tz
            context = ParseContext(flows=flows, meta=meta, tz=zone, trace_to_realtime_ns=trace_to_realtime_ns,
                                   earlier=dict(earlier), lines=LineReport())
            rows = _read(source, Path(path), context, side)
            if rows is not None:
                earlier[name] = rows if name not in earlier else pd.concat([earlier[name], rows], ignore_index=True)
    return side


def _read(source: EventSource, path: Path, ctx: ParseContext, side: SideRows) -> pd.DataFrame | None:
    """Read and parse one file into ``side``; its rows (None when it was left out)."""
    try:
        text = read_text(path, source.what)
    except EventParseError as exc:
        side.warnings.append(f"{path}: {exc}; left out of the timeline (the other sources are kept)")
        return None
    return _read_text(source, path, text, ctx, side)


def _read_text(source: EventSource, path: Path, text: str, ctx: ParseContext, side: SideRows) -> pd.DataFrame | None:
    """Parse one file's text into ``side``; its rows (None when it was left out)."""
    try:
        rows = source.parse(text, ctx)
    except (EventParseError, ClockError) as exc:
        side.warnings.append(f"{path}: {exc}; left out of the timeline (the other sources are kept)")
        return None
    side.warnings.extend(ctx.lines.warnings(str(path)))
    side.sources.append(source.name)
    side.frames.append(rows[list(COLUMN_NAMES)])  # the schema's columns (strace's come with its pid)
    return rows


def read_followed_logs(side: SideRows, logs: Sequence[bundle.FollowedLog], flows: pd.DataFrame, meta: dict,
                       tz: str | None = None) -> None:
    """The logs `abortscope record` copied into a bundle, into ``side``: each in its format (detected when the
    recording did not name it), zone (``tz`` over the recording's) and options, placed with its arrival times."""
    for log in logs:
        try:
            text = read_text(log.path, "followed log")
        except EventParseError as exc:
            side.warnings.append(f"{exc}; left out of the timeline")
            continue
        name = log.format or detect(text)
        if name not in SOURCES:
            side.warnings.append(f"{log.path}: {'no such log format ' + repr(name) if name else 'its format was not recognised'}; "
                                 "left out of the timeline (record it with --applog-format)")
            continue
        zone = _followed_zone(log, tz, SOURCES[name].wall_clock, side.warnings)
        context = ParseContext(flows=flows, meta=meta, tz=zone, lines=LineReport(), options=log.options,
                               arrival_ns=_arrival(log.arrival, side.warnings))
        _read_text(SOURCES[name], log.path, text, context, side)


def _followed_zone(log: bundle.FollowedLog, tz: str | None, wall_clock: bool, warnings: list[str]) -> str:
    """The zone of a followed log's times: ``tz`` (--tz), else the one the recording named, else UTC; a zone
    the bundle names that is none, or none at all for a log of wall-clock times, is said, with what to do."""
    if tz is not None:
        return clock.checked_zone(tz)
    if log.tz is not None:
        try:
            return clock.checked_zone(log.tz)
        except ClockError:
            warnings.append(f"{log.path}: the recording's zone {log.tz!r} is no time zone; read as UTC (give --tz "
                            "ZONE, e.g. --tz Europe/Paris, if it is not)")
            return "UTC"
    if wall_clock:
        warnings.append(f"{log.path}: its times carry no zone and the recording named none; read as UTC (give --tz "
                        "ZONE, e.g. --tz Europe/Paris, if it is not)")
    return "UTC"


def _arrival(path: Path, warnings: list[str]) -> list[int] | None:
    """The arrival times beside a followed log (None when there are none, or they are damaged: said, since the
    lines without a time of their own are then left out)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        warnings.append(f"{path}: cannot be read ({exc.strerror or exc}); lines without a time of their own are "
                        "left out")
        return None
    try:
        return [int(line) for line in text.split()]
    except ValueError:
        warnings.append(f"{path}: damaged (not one time in ns per line); lines without a time of their own are "
                        "left out")
        return None


def applog_zone(path: Path, tz: str | None, bundle_root: Path | None, warnings: list[str]) -> str:
    """The zone of an application log's times (module docstring); a warning when it had to be assumed."""
    if tz is not None:
        return clock.checked_zone(tz)
    if bundle_root is not None and Path(path).resolve() == bundle.BundlePaths(bundle_root).server_log.resolve():
        return bundle.SERVER_LOG_ZONE
    warnings.append(f"{path}: its times carry no zone; read as UTC (the zone of a run bundle's server.log). Go's "
                    "log writes local time unless told log.LUTC: give --tz ZONE (e.g. --tz Europe/Paris) if it does")
    return "UTC"
