"""The bundle's ``app.jsonl`` (format in analysis/bundle.py) -> timeline rows (source ``app``).

One JSON object per line, written by the servers and clients themselves:
``ts_ns``, ``actor``, ``event`` (an EventKind value; unknown ones become
``log``), ``asked``/``written`` bytes, ``error`` text, ``errno``, ``local``
and ``remote`` endpoints, ``detail``. ``len`` is ``written``, else ``asked``.
When ``errno`` is missing it is read from the error text (errnos.from_message).
Lines that are not JSON objects, or have no ``ts_ns`` of integer nanoseconds,
are damaged: skipped and counted in ``lines`` (events._lines).
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
from analysis.schema import EventKind, Source, conform, empty

_KINDS = {k.value for k in EventKind}

#: Every app.jsonl line carries exactly these keys (the unused ones null), with the type of a value: the one
#: definition (capture/app_line.py, stdlib-only for the servers' scripts, holds a copy a test compares).
KEYS: dict[str, type] = {
    "ts_ns": int, "actor": str, "impl": str, "pid": int, "event": str, "asked": int, "written": int,
    "error": str, "errno": str, "local": str, "remote": str, "detail": str,
}
_TEXT_KEYS = tuple(key for key, kind in KEYS.items() if kind is str)


def read_objects(text: str, what: str) -> tuple[list[dict], list[int]]:
    """The JSON objects of the text and the index of each one's line; EventParseError when there are lines but
    none is an object (``what`` names the file in the message)."""
    objects, at, bad = [], [], 0
    for number, line in enumerate(text.splitlines()):  # one iteration per log line; these files are small
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            obj = None
        if isinstance(obj, dict):
            objects.append(obj)
            at.append(number)
        else:
            bad += 1
    if bad and not objects:
        raise EventParseError(f"{what}: none of the {bad} non-empty lines is a JSON object")
    return objects, at


def events(text: str, *, pid: int | None = None, actor: str | None = None) -> list[dict]:
    """The app.jsonl lines of the text as dicts, optionally one process's or side's; a line that is not a JSON
    object (a torn last line while a run writes it) is skipped."""
    try:
        objects, _ = read_objects(text, "app events")
    except EventParseError:
        return []
    return [o for o in objects if (pid is None or o.get("pid") == pid) and (actor is None or o.get("actor") == actor)]


def damaged_lines(text: str, at: list[int], kept: np.ndarray) -> np.ndarray:
    """Per line of the text: not blank, and not a kept object (``kept`` says which of the objects at ``at`` are)."""
    damaged = np.array([bool(line.strip()) for line in text.splitlines()], dtype=bool)
    damaged[np.asarray(at, dtype=np.int64)[np.asarray(kept, dtype=bool)]] = False
    return damaged


def as_text(raw: pd.DataFrame, names: tuple[str, ...]) -> None:
    """Make these columns text or None (JSON may hold numbers, lists or objects anywhere), in place."""
    for name in names:
        if name in raw:
            raw[name] = raw[name].map(_text_or_none)


def _text_or_none(value):
    if value is None or (isinstance(value, float) and value != value):  # a key missing in this line reads as NaN
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _ns(value) -> int:
    """An app.jsonl ts_ns: integer nanoseconds (an int, or digits), else NO_TIME."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        return int(clock.NO_TIME)
    return value


def parse(text: str, ctx: ParseContext) -> pd.DataFrame:
    """Timeline rows from app.jsonl, tied to ``ctx.flows``; damaged lines are counted in ``ctx.lines``."""
    flows, lines = ctx.flows, ctx.lines
    objects, at = read_objects(text, "app events")
    ts_ns = np.array([_ns(o.get("ts_ns")) for o in objects], dtype=np.int64)
    count_bad(lines, damaged_lines(text, at, ts_ns != clock.NO_TIME))
    if not objects:
        return empty()
    raw = pd.DataFrame(objects)
    for col in KEYS:
        if col not in raw:
            raw[col] = None
    keep = ts_ns != clock.NO_TIME
    raw, ts_ns = raw[keep].copy(), ts_ns[keep]
    as_text(raw, _TEXT_KEYS)
    error_text = raw["error"]
    errno = raw["errno"].where(raw["errno"].notna(), error_text.map(errnos.from_message, na_action="ignore"))
    length = pd.Series(int_or_na(raw["written"]), index=raw.index)
    length = length.where(length.notna(), pd.Series(int_or_na(raw["asked"]), index=raw.index))
    kind = raw["event"].where(raw["event"].isin(_KINDS), EventKind.LOG.value)
    detail = error_text.where(error_text.notna(), raw["detail"])
    impl = raw["impl"]
    detail = np.where(impl.notna(), impl.astype(str) + ": " + detail.fillna(raw["event"].astype(str)).astype(str), detail)
    rows = pd.DataFrame({
        "ts_ns": ts_ns,
        "kind": kind.to_numpy(),
        "len": length.to_numpy(),
        "errno": errno.to_numpy(),
        "detail": detail,
        "pid": int_or_na(raw["pid"]),
    })
    flow, side = tie(ts_ns, raw["local"].reset_index(drop=True), raw["remote"].reset_index(drop=True), flows)
    given = raw["actor"].where(raw["actor"].isin(["client", "server"]), None).to_numpy()
    rows["flow"] = flow
    rows["actor"] = np.where(pd.notna(given), given, side)
    rows["source"] = Source.APP.value
    return conform(rows)
