"""Application log lines in Go's ``log`` format -> timeline rows (source ``app``).

    2026/11/23 18:38:46.173734 write tcp 127.0.0.1:3000->127.0.0.1:59004: write: broken pipe
    2026/11/23 18:38:46 http: superfluous response.WriteHeader call ...

The date has no zone: ``ctx.tz`` names it (IANA name; UTC when none is
given, the zone of a run bundle's server.log; analysis.side_files says when
it had to assume one). A ``net.OpError`` text (``OP NET LOCAL->REMOTE: ...``) names the
connection (Go prints the local address first) and its errno comes from the
strerror text at the end via the errno table; such lines are
``write_error``/``read_error``, every other line is ``log``. Lines without
the date prefix continue the previous line (multi-line messages) and are
dropped from the table; a date that is no date is a damaged line, skipped
and counted in ``lines`` (events._lines).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import clock, errnos
from analysis.events._lines import count_bad
from analysis.events._tie import tie
from analysis.events.context import ParseContext
from analysis.schema import EventKind, Source, conform, empty

_LINE = r"^(?P<date>\d{4}/\d{2}/\d{2}) (?P<time>\d{2}:\d{2}:\d{2}(?:\.\d+)?) (?P<msg>.*)$"
_OP_ERROR = (
    r"(?P<op>write|read|dial|accept|close)\s+(?P<net>tcp[46]?)\s+"
    r"(?:(?P<local>\[?[0-9a-fA-F:.]+\]?:\d+)->)?(?P<remote>\[?[0-9a-fA-F:.]+\]?:\d+):\s*(?P<err>.*)$"
)
#: net.OpError op -> timeline kind
OP_KINDS = {"write": EventKind.WRITE_ERROR, "read": EventKind.READ_ERROR, "close": EventKind.CLOSE,
            "dial": EventKind.CONNECT, "accept": EventKind.ACCEPT}


def parse(text: str, ctx: ParseContext) -> pd.DataFrame:
    """Timeline rows from Go log lines in zone ``ctx.tz``, tied to ``ctx.flows``; ``ctx.actor`` logged them;
    damaged lines are counted in ``ctx.lines``."""
    flows, tz, actor, lines = ctx.flows, ctx.tz or "UTC", ctx.actor, ctx.lines
    text_lines = pd.Series(text.splitlines(), dtype="string")
    head = text_lines.str.extract(_LINE).dropna(subset=["date"])
    if head.empty:
        return empty()
    ts_ns = clock.local_wall_to_ns(head["date"] + " " + head["time"], tz)
    op = head["msg"].str.extract(_OP_ERROR)
    is_op = op["op"].notna()
    kind = op["op"].map({k: v.value for k, v in OP_KINDS.items()}).where(is_op, EventKind.LOG.value)
    errno = op["err"].map(errnos.from_message, na_action="ignore")
    rows = pd.DataFrame({
        "ts_ns": ts_ns,
        "kind": kind.to_numpy(),
        "errno": errno.to_numpy(),
        "detail": head["msg"].to_numpy(),
    })
    valid = ts_ns != clock.NO_TIME
    count_bad(lines, ~valid, head.index.to_numpy())
    rows = rows[valid].reset_index(drop=True)
    op = op[valid]
    flow, side = tie(rows["ts_ns"].to_numpy(), op["local"].reset_index(drop=True), op["remote"].reset_index(drop=True), flows)
    rows["flow"] = flow
    rows["actor"] = np.where(pd.notna(side), side, actor)
    rows["source"] = Source.APP.value
    return conform(rows)
