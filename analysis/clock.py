"""The one module that turns every recorder's clock into ``ts_ns`` (int64 ns since the Unix epoch).

- pcap/pcapng: already epoch time; the readers return ``ts_ns``.
- strace ``-ttt``: epoch seconds with a decimal fraction (µs, or ns with
  ``--timestamps=unix,ns``), parsed from the text exactly (no float rounding).
- tracefs: seconds on the trace clock (``boot``/``mono``/``local``...; µs in
  the text), plus ``meta["clocks"]["trace_to_realtime_ns"]``, the offset the
  harness measured (realtime - trace clock) when it recorded the run.
- application logs without a zone (Go's ``log`` package): wall time in a
  zone the caller names (an IANA name; bundle.SERVER_LOG_ZONE for a run
  bundle's server.log, which the harness writes in UTC).
- JSON lines: integer epoch in s/ms/µs/ns (told apart by magnitude) or ISO-8601 text.

A text that is no time int64 nanoseconds can hold (garbage, past 2262) gives
NO_TIME; the parsers count such lines as damaged. A clock value or a zone
that cannot place anything is a ClockError.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.errors import ClockError

NS_PER_S = 1_000_000_000
#: What a conversion gives for a text that is no time (the int64 minimum: no real event is there).
NO_TIME = np.iinfo(np.int64).min
_INT64_MAX = np.iinfo(np.int64).max
#: The whole seconds int64 ns holds with any fraction (the year 2262).
_MAX_WHOLE_SECONDS = _INT64_MAX // NS_PER_S - 1


def decimal_seconds_to_ns(seconds: pd.Series) -> np.ndarray:
    """Exact ns from decimal text like '1795472645.635501' (vectorised, no float rounding); NO_TIME where the
    text is not digits[.digits] or its seconds pass what int64 ns holds."""
    text = seconds.astype("string").str.strip()
    parts = text.str.extract(r"^(?P<whole>\d{1,12})(?:\.(?P<frac>\d*))?$")
    whole = parts["whole"].fillna("0").astype("int64").to_numpy()
    valid = parts["whole"].notna().to_numpy() & (whole <= _MAX_WHOLE_SECONDS)
    frac = parts["frac"].fillna("").str.slice(0, 9).str.pad(9, side="right", fillchar="0").astype("int64").to_numpy()
    return np.where(valid, np.where(valid, whole, 0) * NS_PER_S + frac, NO_TIME)


def strace_to_ns(seconds: pd.Series) -> np.ndarray:
    """strace -ttt timestamps (CLOCK_REALTIME at syscall entry) -> epoch ns."""
    return decimal_seconds_to_ns(seconds)


def trace_to_ns(seconds: pd.Series, trace_to_realtime_ns: int) -> np.ndarray:
    """tracefs timestamps on the trace clock -> epoch ns, with the recorded offset (NO_TIME where the sum
    passes what int64 holds)."""
    trace_ns = decimal_seconds_to_ns(seconds)
    offset = _checked_offset(trace_to_realtime_ns, "the trace clock offset")
    valid = (trace_ns != NO_TIME) & (trace_ns <= _INT64_MAX - max(offset, 0))  # trace_ns >= 0: only the top can pass
    return np.where(valid, np.where(valid, trace_ns, 0) + np.int64(offset), NO_TIME)


def trace_offset_from_meta(meta: dict) -> int | None:
    """meta["clocks"]["trace_to_realtime_ns"], or None when the bundle has none; ClockError when it is no
    integer number of nanoseconds (text, a fraction, a list, out of int64's range)."""
    clocks = (meta or {}).get("clocks")
    if clocks is None:
        return None
    if not isinstance(clocks, dict):
        raise ClockError(f"meta.json: clocks is {type(clocks).__name__}, not an object")
    value = clocks.get("trace_to_realtime_ns")
    return None if value is None else _checked_offset(value, "meta.json clocks.trace_to_realtime_ns")


def _checked_offset(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not -_INT64_MAX <= value <= _INT64_MAX:
        raise ClockError(f"{what} is {value!r}: not an integer number of nanoseconds")
    return int(value)


def checked_zone(tz: str) -> str:
    """``tz`` when it names a time zone (IANA, as 'UTC' or 'Europe/Paris'); else ClockError, in one line."""
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ClockError(f"--tz {tz!r}: no such time zone (IANA names, as UTC or Europe/Paris)") from exc
    return tz


def local_wall_to_ns(wall: pd.Series, tz: str) -> np.ndarray:
    """Zone-less wall-clock text ('2026/11/23 18:38:46.173734') -> epoch ns in zone ``tz`` (NO_TIME where the
    text is no date, or a time the zone skips or repeats).

    ``tz`` is an IANA name ('Europe/Paris', 'UTC'). There is no "this
    machine's zone" default: a log is rarely read where it was written, and
    a fixed offset guessed from now() is wrong across a DST change.
    """
    stamps = pd.to_datetime(wall, format="%Y/%m/%d %H:%M:%S.%f", errors="coerce")
    missing = stamps.isna()
    if missing.any():
        stamps[missing] = pd.to_datetime(wall[missing], format="%Y/%m/%d %H:%M:%S", errors="coerce")
    localized = stamps.dt.tz_localize(checked_zone(tz), ambiguous="NaT", nonexistent="NaT")
    return localized.dt.tz_convert("UTC").dt.tz_localize(None).dt.as_unit("ns").astype("int64").to_numpy()


def epoch_any_to_ns(values: pd.Series) -> np.ndarray:
    """Epoch numbers in s, ms, µs or ns (told apart by magnitude) or ISO-8601 text -> epoch ns.

    Integers stay exact; unparseable values (and times int64 ns cannot hold)
    become NO_TIME (the caller drops them).
    """
    values = pd.Series(values, dtype=object).reset_index(drop=True)
    out = np.full(len(values), NO_TIME, dtype=np.int64)
    kinds = values.map(lambda v: "bool" if isinstance(v, bool) else "int" if isinstance(v, (int, np.integer)) else "other")
    exact = (kinds == "int").to_numpy(bool)
    if exact.any():
        ints = [int(v) for v in values[exact]]
        units = _epoch_units_ns(np.array([float(abs(v)) for v in ints]))
        out[exact] = [_in_int64(v * int(unit)) for v, unit in zip(ints, units)]
    numeric = pd.to_numeric(values.where(kinds == "other"), errors="coerce")
    is_num = numeric.notna().to_numpy() & np.isfinite(numeric.to_numpy(float, na_value=np.nan))
    if is_num.any():
        num = numeric[is_num].to_numpy(float)
        factor = _epoch_units_ns(np.abs(num)).astype(np.float64)
        # a float64 epoch in seconds only holds ~0.2 µs: round to whole µs rather than invent ns digits
        per_unit = np.where(factor >= 1_000, 1_000, 1).astype(np.int64)
        units = np.round(num * factor / per_unit)
        fits = np.abs(units * per_unit) < 2.0**63 - 2**11  # int64 holds it, whatever float64 rounded
        out[np.flatnonzero(is_num)[fits]] = units[fits].astype(np.int64) * per_unit[fits]
    text = ~is_num & (kinds == "other").to_numpy(bool)
    if text.any():
        parsed = pd.to_datetime(values[text].astype(str), utc=True, errors="coerce", format="ISO8601")
        ok = parsed.notna().to_numpy()
        idx = np.flatnonzero(text)[ok]
        out[idx] = parsed[ok].dt.tz_localize(None).dt.as_unit("ns").astype("int64").to_numpy()
    return out


#: An epoch number's unit from its size: above 1e17 it is ns, above 1e14 µs, above 1e11 ms, else s (epochs of
#: today have 19, 16, 13 and 10 digits); (bound, ns per unit).
_EPOCH_UNITS = ((1e17, 1), (1e14, 1_000), (1e11, 1_000_000))


def _epoch_units_ns(magnitudes: np.ndarray) -> np.ndarray:
    """ns per unit of epoch numbers of these sizes (_EPOCH_UNITS)."""
    return np.select([magnitudes > bound for bound, _ in _EPOCH_UNITS], [ns for _, ns in _EPOCH_UNITS], default=NS_PER_S)


def _in_int64(ns: int) -> int:
    return ns if -_INT64_MAX <= ns <= _INT64_MAX else int(NO_TIME)
