"""Printed numbers against recomputed ones, within the rounding they were printed with."""

from __future__ import annotations

import re

#: a duration as printed: value, unit -> ns per unit
UNITS_NS = {"ns": 1, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
DURATION = r"\d+(?:\.\d+)? (?:ns|µs|ms|s)"
TIME = r"\+\d+\.\d\d s"
FRAME = r"frame \d+"


def _half_step(number: str) -> float:
    decimals = len(number.partition(".")[2])
    return 0.5 * 10 ** -decimals


def time_problem(printed: str, seconds: float) -> str | None:
    """``+0.30 s`` against a time in seconds since the connection's first packet."""
    number = printed.strip().lstrip("+").removesuffix(" s")
    if abs(float(number) - seconds) > _half_step(number) + 1e-9:
        return f"time {printed} vs actual +{seconds:.6f} s"
    return None


def duration_problem(printed: str, ns: int) -> str | None:
    """``758 µs`` / ``1.0 ms`` / ``0.40 s`` against a duration in ns (its sign aside)."""
    number, unit = printed.split()
    value = float(number) * UNITS_NS[unit]
    if abs(value - abs(ns)) > _half_step(number) * UNITS_NS[unit] + 1e-6:
        return f"duration {printed} vs actual {abs(ns)} ns"
    return None


def frame_number(text: str) -> int:
    return int(re.search(r"\d+", text).group())


def problems(*found: str | None) -> list[str]:
    return [p for p in found if p]
