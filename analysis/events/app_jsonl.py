"""The bundle's ``app.jsonl`` (format in analysis/bundle.py) -> timeline rows (source ``app``).

One JSON object per line, written by the servers and clients themselves:
``ts_ns``, ``actor``, ``event`` (an EventKind value; unknown ones become
``log``), ``asked``/``written`` bytes, ``error`` text, ``errno``, ``local``
and ``remote`` endpoints, ``detail``. ``len`` is ``written``, else ``asked``.
When ``errno`` is missing it is read from the error text (errnos.from_message).
Lines that are not JSON objects are skipped and counted in ``parse.skipped``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from analysis import errnos
from analysis.errors import EventParseError
from analysis.events._tie import tie
from analysis.schema import EventKind, Source, conform

_KINDS = {k.value for k in EventKind}


def read_objects(text: str) -> tuple[list[dict], int]:
    """Parsed JSON objects and the number of non-empty lines that were not one."""
    objects, bad = [], 0
    for line in text.splitlines():  # one iteration per log line; these files are small
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(obj, dict):
            objects.append(obj)
        else:
            bad += 1
    return objects, bad


def parse(text: str, *, flows: pd.DataFrame | None = None) -> pd.DataFrame:
    objects, bad = read_objects(text)
    if not objects:
        if bad:
            raise EventParseError(f"app events: none of the {bad} non-empty lines is a JSON object")
        return conform(pd.DataFrame({"ts_ns": [], "source": [], "kind": []}))
    raw = pd.DataFrame(objects)
    for col in ("ts_ns", "actor", "event", "asked", "written", "error", "errno", "local", "remote", "detail"):
        if col not in raw:
            raw[col] = None
    raw = raw[pd.to_numeric(raw["ts_ns"], errors="coerce").notna()]
    error_text = raw["error"].where(raw["error"].notna(), None)
    errno = raw["errno"].where(raw["errno"].notna(), error_text.map(errnos.from_message))
    length = pd.to_numeric(raw["written"], errors="coerce").where(raw["written"].notna(), pd.to_numeric(raw["asked"], errors="coerce"))
    kind = raw["event"].where(raw["event"].isin(_KINDS), EventKind.LOG.value)
    detail = error_text.where(error_text.notna(), raw["detail"])
    impl = raw["impl"] if "impl" in raw else pd.Series(None, index=raw.index)
    detail = np.where(impl.notna(), impl.astype(str) + ": " + detail.fillna(raw["event"].astype(str)).astype(str), detail)
    ts_ns = np.array([int(v) for v in raw["ts_ns"]], dtype=np.int64)
    rows = pd.DataFrame({
        "ts_ns": ts_ns,
        "kind": kind.to_numpy(),
        "len": length.astype("Int64").to_numpy(),
        "errno": errno.to_numpy(),
        "detail": detail,
    })
    flow, side = tie(ts_ns, raw["local"].reset_index(drop=True), raw["remote"].reset_index(drop=True), flows)
    given = raw["actor"].where(raw["actor"].isin(["client", "server"]), None).to_numpy()
    rows["flow"] = flow
    rows["actor"] = np.where(pd.notna(given), given, side)
    rows["source"] = Source.APP.value
    return conform(rows)
