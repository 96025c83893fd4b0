"""The engine of the stack-trace log formats (Python, Node, Java): an error line, its time, its connection.

A format (:class:`StackFormat`) says which line is an error (``error``: one
event per match), how a line's own time looks at its start (``stamps``: regex
with group ``ts`` and its strptime format, None for ISO 8601), and where the
failing call is named (``op``: searched in the lines ``op_before`` lines
before the error line and ``op_after`` after it: Python prints the failing
source line above the exception, Java the frames below it).

- time: the error line's own, else that of the last stamped line within
  :data:`STAMP_REACH` lines above it (a traceback follows its log line), else
  its arrival (events._loglines); zone-less times are in ``ctx.tz``;
- connection: the first endpoint (``ip:port``, Python's ``('ip', port)``)
  named on the error line or within :data:`ENDPOINT_REACH` lines above it, back
  to the previous error line (socketserver's "request from ('127.0.0.1', 59004)"
  heads its traceback); it is the remote end;
- damaged: a line whose stamp is no time (skipped and counted); every other
  line is free text and kept as context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import clock
from analysis.events._loglines import endpoint_in, errno_in, events_frame, rows, wall_to_ns
from analysis.events.context import ParseContext

STAMP_REACH = 40
ENDPOINT_REACH = 40


@dataclass(frozen=True)
class StackFormat:
    name: str
    error: re.Pattern  # an error line; optional groups: errno (a name), kind (a timeline kind)
    stamps: tuple[tuple[re.Pattern, str | None], ...]
    op: re.Pattern  # group op: the failing call
    op_before: int = 0
    op_after: int = 0
    #: message text -> errno, for texts errnos.from_message does not know (Java's "Connection reset")
    aliases: tuple[tuple[str, str], ...] = ()
    #: the kind of an error line that names no errno (Node's ERR_STREAM_DESTROYED: a refused write)
    no_errno_kind: str | None = None


def parse_with(fmt: StackFormat, text: str, ctx: ParseContext) -> pd.DataFrame:
    lines = text.splitlines()
    stamp_text, stamp_format = [None] * len(lines), [None] * len(lines)
    for number, line in enumerate(lines):
        for pattern, time_format in fmt.stamps:
            match = pattern.match(line)
            if match:
                stamp_text[number], stamp_format[number] = match.group("ts"), time_format
                break
    own = _stamps_ns(stamp_text, stamp_format, ctx.tz)
    stamped = np.array([t is not None for t in stamp_text], bool)
    damaged = np.flatnonzero(stamped & (own == clock.NO_TIME))
    records, last_stamp, last_stamp_line, last_error = [], clock.NO_TIME, -STAMP_REACH - 1, -1
    for number, line in enumerate(lines):
        if stamped[number] and own[number] != clock.NO_TIME:
            last_stamp, last_stamp_line = own[number], number
        match = fmt.error.search(line)
        if match is None:
            continue
        groups = match.groupdict()
        around = lines[max(0, number - fmt.op_before):number + fmt.op_after + 1]
        op = groups.get("op") or next((m.group("op") for m in map(fmt.op.search, reversed(around)) if m), None)
        errno = groups.get("errno") or errno_in(line) or next((e for text, e in fmt.aliases if text in line), None)
        above = lines[max(0, number - ENDPOINT_REACH, last_error + 1):number + 1]
        last_error = number
        remote = next((e for e in map(endpoint_in, reversed(above)) if e), None)
        records.append({
            "line": number, "ts_ns": last_stamp if number - last_stamp_line <= STAMP_REACH else clock.NO_TIME,
            "ts_res_ns": 0, "kind": None if errno else fmt.no_errno_kind, "errno": errno, "op": op,
            "remote": remote, "detail": f"{fmt.name}: {line.strip()}",
        })
    return rows(events_frame(records), ctx, damaged)


def _stamps_ns(texts: list, formats: list, tz: str | None) -> np.ndarray:
    out = np.full(len(texts), clock.NO_TIME, dtype=np.int64)
    frame = pd.DataFrame({"text": texts, "format": formats})
    for time_format, group in frame[frame["text"].notna()].groupby(frame["format"].fillna(""), sort=False):
        out[group.index.to_numpy()] = wall_to_ns(group["text"], time_format or None, tz)
    return out
