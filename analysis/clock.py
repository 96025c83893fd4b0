"""The one module that turns every recorder's clock into ``ts_ns`` (int64 ns since the Unix epoch).

- pcap/pcapng: already epoch time; the readers return ``ts_ns``.
- strace ``-ttt``: epoch seconds with a decimal fraction (µs, or ns with
  ``--timestamps=unix,ns``), parsed from the text exactly (no float rounding).
- tracefs: seconds on the trace clock (``boot``/``mono``/``local``...; µs in
  the text), plus ``meta["clocks"]["trace_to_realtime_ns"]``, the offset the
  harness measured (realtime - trace clock) when it recorded the run.
- application logs without a zone (Go's ``log`` package): local wall time in
  a zone the caller names (default: this machine's local zone).
- JSON lines: integer epoch in s/ms/µs/ns (told apart by magnitude) or ISO-8601 text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NS_PER_S = 1_000_000_000


def decimal_seconds_to_ns(seconds: pd.Series) -> np.ndarray:
    """Exact ns from decimal text like '1795472645.635501' (vectorised, no float rounding)."""
    text = seconds.astype("string").str.strip()
    parts = text.str.split(".", n=1, expand=True)
    whole = parts[0].astype("int64").to_numpy()
    if parts.shape[1] > 1:
        frac = parts[1].fillna("").str.slice(0, 9).str.pad(9, side="right", fillchar="0").astype("int64").to_numpy()
    else:
        frac = np.zeros(len(text), dtype=np.int64)
    return whole * NS_PER_S + frac


def strace_to_ns(seconds: pd.Series) -> np.ndarray:
    """strace -ttt timestamps (CLOCK_REALTIME at syscall entry) -> epoch ns."""
    return decimal_seconds_to_ns(seconds)


def trace_to_ns(seconds: pd.Series, trace_to_realtime_ns: int) -> np.ndarray:
    """tracefs timestamps on the trace clock -> epoch ns, with the recorded offset."""
    return decimal_seconds_to_ns(seconds) + np.int64(trace_to_realtime_ns)


def trace_offset_from_meta(meta: dict) -> int | None:
    """meta["clocks"]["trace_to_realtime_ns"], or None when the bundle has none."""
    value = (meta or {}).get("clocks", {}).get("trace_to_realtime_ns")
    return int(value) if value is not None else None


def local_wall_to_ns(wall: pd.Series, tz: str | None = None) -> np.ndarray:
    """Zone-less wall-clock text ('2026/11/23 18:38:46.173734') -> epoch ns in zone ``tz``.

    ``tz`` is an IANA name ('Europe/Paris', 'UTC'); None means this machine's
    local zone, which is right only when the log was written here.
    """
    stamps = pd.to_datetime(wall, format="%Y/%m/%d %H:%M:%S.%f", errors="coerce")
    missing = stamps.isna()
    if missing.any():
        stamps[missing] = pd.to_datetime(wall[missing], format="%Y/%m/%d %H:%M:%S", errors="coerce")
    zone = tz or _local_zone()
    localized = stamps.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    return localized.dt.tz_convert("UTC").dt.tz_localize(None).dt.as_unit("ns").astype("int64").to_numpy()


def _local_zone() -> str:
    import datetime as _dt

    offset = _dt.datetime.now().astimezone().utcoffset()
    try:
        import tzlocal  # optional

        return str(tzlocal.get_localzone())
    except ImportError:
        pass
    import os

    if os.environ.get("TZ"):
        return os.environ["TZ"]
    try:
        link = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in link:
            return link.split("zoneinfo/", 1)[1]
    except OSError:
        pass
    total = int(offset.total_seconds()) if offset else 0
    return "UTC" if total == 0 else f"Etc/GMT{'-' if total > 0 else '+'}{abs(total) // 3600}"


def epoch_any_to_ns(values: pd.Series) -> np.ndarray:
    """Epoch numbers in s, ms, µs or ns (told apart by magnitude) or ISO-8601 text -> epoch ns.

    Integers stay exact; unparseable values become the int64 minimum (the
    caller drops them).
    """
    values = pd.Series(values).reset_index(drop=True)
    out = np.full(len(values), np.iinfo(np.int64).min, dtype=np.int64)
    exact = values.map(lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool)).to_numpy(bool)
    if exact.any():
        ints = np.array([int(v) for v in values[exact]], dtype=np.int64)
        magnitude = np.abs(ints)
        factor = np.select([magnitude > 1e17, magnitude > 1e14, magnitude > 1e11], [1, 1_000, 1_000_000], default=NS_PER_S)
        out[exact] = ints * factor
    numeric = pd.to_numeric(values.where(~exact), errors="coerce")
    is_num = numeric.notna().to_numpy()
    if is_num.any():
        num = numeric[is_num]
        magnitude = num.abs().to_numpy(dtype=float)
        factor = np.select([magnitude > 1e17, magnitude > 1e14, magnitude > 1e11], [1, 1_000, 1_000_000], default=NS_PER_S)
        # a float64 epoch in seconds only holds ~0.2 µs: round to whole µs rather than invent ns digits
        scaled = num.to_numpy(float) * factor
        out[is_num] = np.where(factor >= 1_000, np.round(scaled / 1_000).astype(np.int64) * 1_000, np.round(scaled).astype(np.int64))
    text = ~is_num & ~exact
    if text.any():
        parsed = pd.to_datetime(values[text].astype(str), utc=True, errors="coerce", format="ISO8601")
        ok = parsed.notna().to_numpy()
        idx = np.flatnonzero(text)[ok]
        out[idx] = parsed[ok].dt.tz_localize(None).dt.as_unit("ns").astype("int64").to_numpy()
    return out
