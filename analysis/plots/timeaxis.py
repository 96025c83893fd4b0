"""A compressed, broken time axis: microsecond bursts stay readable next to a 1 s sleep.

A dying connection lives on two time scales at once: bursts of events a few
microseconds apart (FIN, ACK, state change; data, RST, EPIPE) separated by
idle gaps of hundreds of milliseconds (curl's 0.3 s, the handler's 1 s sleep).
A linear axis squeezes each burst into one pixel; a log axis distorts the
order of magnitude the reader cares about. So the axis is built from the
events themselves:

- every event (a *knot*) gets at least ``step`` units of room, plus more
  room for events that ask for extra slots (a highlight annotation row), so
  labels placed one per slot never collide;
- the real gap to the previous event adds ``log_gain * log10(1 + gap/1 µs)``
  steps, so a 40 ms pause still looks longer than a 10 µs one;
- a gap longer than ``break_after_ns`` is cut out and replaced by a
  fixed-size :class:`Break`, drawn with a zig-zag mark and its real length.

Positions are plain floats ("axis units"); the plots map them to y (ladder)
or x (lanes, time-sequence). The real time is always printed in the labels,
never read off the axis geometry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Gaps longer than this are cut out of the axis and drawn as a break.
DEFAULT_BREAK_AFTER_NS = 50_000_000
#: Room a break takes, in steps.
DEFAULT_BREAK_SIZE = 1.6
#: Extra room per decade of gap length (in µs), in steps.
DEFAULT_LOG_GAIN = 0.22
#: Extra room from the gap never exceeds this many steps.
MAX_GAP_ROOM = 1.2


@dataclass(frozen=True)
class Break:
    """An idle gap cut out of the axis: real times and where the band is drawn."""

    start_ns: int  # the last event before the gap
    end_ns: int  # the first event after it
    pos_start: float
    pos_end: float

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    @property
    def middle(self) -> float:
        return (self.pos_start + self.pos_end) / 2


@dataclass(frozen=True)
class TimeAxis:
    times_ns: np.ndarray  # int64, one per knot, sorted (duplicates allowed)
    positions: np.ndarray  # float64, one per knot, strictly increasing
    breaks: tuple[Break, ...]
    step: float

    @property
    def start(self) -> float:
        return float(self.positions[0]) - self.step if len(self.positions) else 0.0

    @property
    def end(self) -> float:
        return float(self.positions[-1]) + self.step if len(self.positions) else self.step

    def position(self, ts_ns: int | float | np.ndarray) -> float | np.ndarray:
        """Position of any instant: exact at knots (the first knot of equal times),
        linear between neighbouring knots, extrapolated by one step per 1 ms outside."""
        if len(self.times_ns) == 0:
            return np.zeros_like(np.asarray(ts_ns, dtype=float)) if np.ndim(ts_ns) else 0.0
        times, first = np.unique(self.times_ns, return_index=True)
        pos = self.positions[first]
        t = np.asarray(ts_ns, dtype=np.float64)
        out = np.interp(t, times.astype(np.float64), pos)
        out = np.where(t < times[0], pos[0] - (times[0] - t) / 1e6 * self.step, out)
        out = np.where(t > times[-1], pos[-1] + (t - times[-1]) / 1e6 * self.step, out)
        return float(out) if np.ndim(ts_ns) == 0 else out

    def segments(self) -> list[tuple[float, float]]:
        """The continuous stretches of the axis (between breaks), as (start, end) positions."""
        edges = [self.start]
        for b in self.breaks:
            edges += [b.pos_start, b.pos_end]
        edges.append(self.end)
        return [(edges[i], edges[i + 1]) for i in range(0, len(edges), 2)]

    def ticks(self, min_spacing: float) -> list[tuple[float, int]]:
        """(position, ts_ns) tick candidates: both ends of each continuous stretch,
        then the other knots, dropping any closer than ``min_spacing`` to a kept one."""
        if len(self.times_ns) == 0:
            return []
        wanted = [0, len(self.times_ns) - 1]
        for b in self.breaks:
            wanted += [int(np.searchsorted(self.times_ns, b.start_ns, side="right")) - 1,
                       int(np.searchsorted(self.times_ns, b.end_ns, side="left"))]
        wanted += range(len(self.times_ns))
        kept: list[tuple[float, int]] = []
        for i in wanted:
            p = float(self.positions[i])
            if all(abs(p - q) >= min_spacing for q, _ in kept):
                kept.append((p, int(self.times_ns[i])))
        return sorted(kept)


def build(times_ns: Sequence[int] | np.ndarray, slots: Sequence[float] | None = None, *, step: float = 1.0,
          break_after_ns: int = DEFAULT_BREAK_AFTER_NS, break_size: float = DEFAULT_BREAK_SIZE,
          log_gain: float = DEFAULT_LOG_GAIN) -> TimeAxis:
    """Lay ``times_ns`` (sorted) out on a compressed axis.

    ``slots[i]`` is the room (in steps) knot ``i`` needs before it: 1 for a
    plain event, 2 for one with an annotation row above it. Equal times get
    distinct positions (one slot each): pass unique times to align them.
    """
    times = np.asarray(times_ns, dtype=np.int64)
    if len(times) and np.any(np.diff(times) < 0):
        raise ValueError("times_ns must be sorted")
    room = np.ones(len(times)) if slots is None else np.asarray(slots, dtype=float)
    if len(room) != len(times):
        raise ValueError("slots must have one entry per time")
    positions = np.zeros(len(times))
    breaks: list[Break] = []
    if len(times):
        positions[0] = (room[0] - 1) * step
    for i in range(1, len(times)):
        gap = int(times[i] - times[i - 1])
        base = positions[i - 1]
        if gap > break_after_ns:
            band_start = base + 0.5 * step
            breaks.append(Break(int(times[i - 1]), int(times[i]), band_start, band_start + break_size * step))
            positions[i] = base + (break_size + room[i]) * step
        else:
            extra = min(MAX_GAP_ROOM, log_gain * np.log10(1.0 + max(gap, 0) / 1e3))
            positions[i] = base + (room[i] + extra) * step
    return TimeAxis(times, positions, tuple(breaks), step)
