"""Generic JSON lines with a timestamp field -> timeline rows (source ``app``).

The timestamp field is ``ts_field`` or the first present of
:data:`TIME_FIELDS`; values may be epoch s/ms/µs/ns or ISO-8601 text
(clock.epoch_any_to_ns). ``kind`` comes from ``event``/``kind`` when it is a
timeline kind, else ``log``; ``detail`` is ``msg``/``message``/``error`` or
the whole object; ``flow``/``local``/``remote``/``actor``/``errno`` are used
when present (per line: lines need not share their keys); ``ctx.options`` may name other keys for the time
(``ts_field``) and the endpoints (``local_field``, ``remote_field``, e.g. ``client`` holding ``ip:port``). Lines that are no JSON object, or whose object has no usable
time, are damaged: skipped and counted in ``lines`` (events._lines).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from analysis import clock, errnos
from analysis.errors import EventParseError
from analysis.events._columns import int_or_na
from analysis.events._lines import count_bad
from analysis.events._tie import tie
from analysis.events.context import ParseContext
from analysis.events.app_jsonl import as_text, damaged_lines, read_objects
from analysis.schema import EventKind, Source, conform, empty

TIME_FIELDS = ("ts_ns", "ts", "time", "timestamp", "@timestamp", "t")
_KINDS = {k.value for k in EventKind}


def parse(text: str, ctx: ParseContext) -> pd.DataFrame:
    """Timeline rows from JSON lines, tied to ``ctx.flows``; the time is ``ctx.options["ts_field"]`` or the first
    of TIME_FIELDS present; damaged lines are counted in ``ctx.lines``."""
    flows, ts_field, lines = ctx.flows, ctx.options.get("ts_field"), ctx.lines
    objects, at = read_objects(text, "JSON lines")
    if not objects:
        return empty()
    raw = pd.DataFrame(objects)
    field = ts_field or next((f for f in TIME_FIELDS if f in raw), None)
    if field is None or field not in raw:
        raise EventParseError(f"JSON lines: no timestamp field (looked for {ts_field or ', '.join(TIME_FIELDS)})")
    ts_ns = clock.epoch_any_to_ns(raw[field].astype(object))
    keep = ts_ns != clock.NO_TIME
    count_bad(lines, damaged_lines(text, at, keep))
    raw, ts_ns = raw[keep].reset_index(drop=True), ts_ns[keep]
    as_text(raw, ("event", "kind", "msg", "message", "error", "detail", "flow", "local", "remote", "actor", "errno",
                  ctx.options.get("local_field", "local"), ctx.options.get("remote_field", "remote")))

    def column(*names):
        """Per row, the first of these keys the row has (lines need not share their keys)."""
        values = pd.Series([None] * len(raw), dtype=object)
        for name in names:
            if name in raw:
                values = values.where(values.notna(), raw[name])
        return values

    event = column("event", "kind").astype(object)
    kind = event.where(event.isin(_KINDS), EventKind.LOG.value)
    message = column("msg", "message", "error", "detail")
    whole = pd.Series([json.dumps(o, default=str)[:300] for o, kept in zip(objects, keep) if kept], dtype=object)
    detail = message.where(message.notna(), whole)
    errno = column("errno").where(column("errno").notna(), column("error").map(errnos.from_message, na_action="ignore"))
    rows = pd.DataFrame({"ts_ns": ts_ns, "kind": kind.to_numpy(), "detail": detail.astype(object).to_numpy(),
                         "errno": errno.to_numpy(), "len": int_or_na(column("len", "bytes", "written"))})
    flow, side = tie(ts_ns, column(ctx.options.get("local_field", "local")), column(ctx.options.get("remote_field", "remote")),
                     flows)
    given_flow = column("flow")
    rows["flow"] = np.where(given_flow.notna(), given_flow.astype(object), flow)
    given = column("actor")
    rows["actor"] = np.where(given.isin(["client", "server"]), given, side)
    rows["source"] = Source.APP.value
    return conform(rows)
