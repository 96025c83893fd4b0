"""Any log, through the user's regular expression (``--applog-pattern``) -> timeline rows (source ``app``).

The expression (``ctx.options["pattern"]``, Python ``re`` syntax, searched in
each line) names what it finds with these groups, all optional:

    ts       the time: ISO 8601 (``2026-12-04T23:50:01.123+01:00``; without a zone: ``ctx.tz``), or an epoch
             number in s/ms/µs/ns; ``ctx.options["ts_format"]`` (strptime) for any other shape
    local    the server's endpoint ``ip:port``
    remote   the peer's endpoint ``ip:port`` (or its address alone: the tie is then inferred, events._infer)
    errno    EPIPE, 32, or strerror text (``Broken pipe``)
    message  the text kept as the detail (default: the whole line)

A line that does not match is not an event (skipped, not damaged); a matching
line whose ``ts`` is no time, and that has no arrival time, is damaged (skipped
and counted). The kind comes from the errno (events._loglines); a match
without errno is a ``log`` row.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from analysis import clock, errnos
from analysis.errors import EventParseError
from analysis.events._loglines import errno_in, events_frame, rows, wall_to_ns
from analysis.events.context import ParseContext

GROUPS = ("ts", "local", "remote", "errno", "message")


def compiled(pattern: str | None) -> re.Pattern:
    """The user's expression, checked: EventParseError when it is missing, invalid or names no known group."""
    if not pattern:
        raise EventParseError("the pattern format needs a regular expression (--applog-pattern)")
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise EventParseError(f"--applog-pattern {pattern!r}: {exc}") from exc
    if not set(regex.groupindex) & set(GROUPS):
        raise EventParseError(f"--applog-pattern names none of the groups {', '.join(GROUPS)}")
    return regex


def parse(text: str, ctx: ParseContext):
    """Timeline rows from the lines ``ctx.options["pattern"]`` matches (module docstring)."""
    if not text.strip():  # nothing to match: no expression needed
        return rows(events_frame([]), ctx)
    regex = compiled(ctx.options.get("pattern"))
    records, stamps = [], []
    for number, line in enumerate(text.splitlines()):
        match = regex.search(line)
        if match is None:
            continue
        found = {k: v for k, v in match.groupdict().items() if v is not None}
        remote = found.get("remote")
        with_port = remote is not None and re.fullmatch(r"\[[0-9a-fA-F:.]+\]:\d+|[0-9.]+:\d+", remote) is not None
        records.append({"line": number, "ts_res_ns": 0, "local": found.get("local"),
                        "remote": remote if with_port else None, "address": None if with_port else remote,
                        "errno": _errno(found.get("errno")), "detail": found.get("message", line.strip())})
        stamps.append(found.get("ts"))
    events = events_frame(records)
    if records:
        events["ts_ns"] = _times(pd.Series(stamps, dtype=object), ctx.options.get("ts_format"), ctx.tz)
    return rows(events, ctx)


def _errno(text: str | None) -> str | None:
    if not text:
        return None
    text = text.strip()
    if text.isdecimal():
        return errnos.name_of(int(text))
    return errno_in(text) or (text if text.startswith("E") and text.isupper() else None)


def _times(stamps: pd.Series, ts_format: str | None, tz: str | None) -> np.ndarray:
    out = np.full(len(stamps), clock.NO_TIME, dtype=np.int64)
    given = stamps.notna().to_numpy()
    numeric = given & stamps.astype(str).str.fullmatch(r"\d+(?:\.\d+)?").to_numpy(bool)
    if numeric.any():
        out[numeric] = clock.epoch_any_to_ns(pd.to_numeric(stamps[numeric]).astype(object))
    text = given & ~numeric
    if text.any():
        out[text] = wall_to_ns(stamps[text], ts_format, tz)
    return out
