"""The timeline's packet rows as a pass produces them, in time order, handed to a writer a slice at a time.

The timeline is ordered by capture time, frame order on ties (as
analysis.events.packets.parse orders a whole table), but timestamps can
step back: several CPUs feed one capture, and pieces of a rotated capture
may overlap. A batch's rows are therefore sorted together with the rows kept
back from earlier batches, and only the rows no later packet can precede
are let go: those at or before the newest timestamp so far minus the
*hold-back* (the largest step back seen so far, plus :data:`SLACK_NS`). A
later packet older than a row already let go makes the pass inexact; it is
run again, holding back the largest step back of the whole capture, which
is then exact. Memory: the rows within the hold-back of the newest.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from analysis.events import packets as rows_of
from analysis.events.packets import ConnIds
from analysis.stream.passes import Output
from analysis.tcp.fold import ConnectionFold, Step

#: hold back at least this much capture time beyond the largest step back seen so far
SLACK_NS = 1_000_000_000


class TimelineRows(Output):
    """Hands the packets' timeline rows (analysis.events.packets.Columns) in time order to ``write``; ``keep``:
    a connection filter (per batch: which rows' connections to keep), None for every row."""

    def __init__(self, writer, files: tuple[str, ...], keep: Callable[[Step, ConnectionFold], np.ndarray] | None = None):
        self.writer = writer  # start(), write(columns), end()
        self.files = files
        self.keep = keep
        self.step_back = 0  # the largest step back seen (kept from pass to pass)
        self._known_step_back = 0  # what this pass holds back for

    def start(self, attempt: int) -> None:
        self._known_step_back = self.step_back
        self.carry = None
        self.newest = None  # the newest timestamp so far
        self.let_go = None  # the newest timestamp let go
        self.late = False
        self.writer.start()

    def batch(self, step: Step, fold: ConnectionFold) -> None:
        conns = ConnIds(step.conns["conn"], step.conns["first_ts"], fold.texts(step.conns, step.client))
        columns = rows_of.columns(step.packets, conns, self.files)
        if self.keep is not None:
            columns = rows_of.taken(columns, np.flatnonzero(self.keep(step, fold)))
        ts = columns["ts_ns"]
        if not len(ts):
            return
        self._note_steps(ts)
        held = columns if self.carry is None else rows_of.joined(self.carry, columns)
        order = rows_of._time_order(held["ts_ns"])
        if order is not None:
            held = rows_of.taken(held, order)
        cut = int(np.searchsorted(held["ts_ns"], self.newest - self._hold_back(), side="right"))
        if cut:
            self._hand_over(rows_of.taken(held, slice(0, cut)))
        self.carry = rows_of.compacted(rows_of.taken(held, slice(cut, None)))

    def _hold_back(self) -> int:
        return max(self.step_back, self._known_step_back) + SLACK_NS

    def _note_steps(self, ts: np.ndarray) -> None:
        before = np.maximum.accumulate(ts)
        if self.newest is not None:
            np.maximum(before, self.newest, out=before)
        steps = before - ts
        self.step_back = max(self.step_back, int(steps.max()))
        self.newest = int(before[-1])
        if self.let_go is not None and int(ts.min()) < self.let_go:
            self.late = True  # a row older than one already written: this pass cannot be in time order

    def _hand_over(self, columns) -> None:
        self.let_go = int(columns["ts_ns"][-1])
        self.writer.write(columns)

    def again(self) -> bool:
        if self.late:
            self.writer.abort()
        return self.late

    def end(self) -> None:
        if self.carry is not None and len(self.carry["ts_ns"]):
            self._hand_over(self.carry)
        self.carry = None
        self.rows = self.writer.end()
