"""The close facts of every connection, a batch of packets at a time, each with the frame that shows it.

What each fact means is documented once, in the connection table's schema
(analysis.schema.connections, FLOW_COLUMNS); analysis.tcp.finish turns the
states below into those columns. "After" means later in the capture (frame
order), i.e. as seen at the capture point.

Every fact is a first, a sum, a minimum or a maximum over rows, so a batch
updates the carried state (analysis.tcp.state) with whole-column operations
over its own rows: a first already known stays (earlier batches hold earlier
frames), sums add, minima and maxima take the smaller and the larger. Where a row's meaning depends on an earlier one
(data after the peer's FIN, a retransmission, payload after the first RST),
the earlier one is the merged value: the carried one, else the batch's.
Most facts concern few rows (FINs, RSTs, payload): each is computed on those
rows only, picked once.

One fact is not a plain first: the half-close is the first acknowledgement
covering *all* the late payload, which a later batch may extend. The state
keeps the first acknowledgement covering it so far and the highest one seen;
when later payload outgrows the kept one while an earlier acknowledgement
might still cover it, which one came first is no longer known: that
connection is flagged (Hazard.HALF_CLOSE) and the pass run again knowing
each connection's final late-payload end (analysis.tcp.fold).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from analysis.tcp import flags as F
from analysis.tcp.history import letter_masks, previous_max
from analysis.tcp.state import Hazard, States

NEVER = np.iinfo(np.int64).max  # "no such frame": later than any


@dataclass
class BatchRows:
    """A batch's packets as the facts need them: numbers, their connection (segment) and direction."""

    frame: np.ndarray
    ts: np.ndarray
    flags: np.ndarray
    length: np.ndarray
    seq: np.ndarray  # relative (analysis.tcp.roles)
    ack: np.ndarray  # relative, -1 without ACK
    win: np.ndarray
    seg: np.ndarray  # the row's connection among the batch's (0..m-1)
    d: np.ndarray  # 0: sent by the endpoint that sent the connection's first packet, 1: by the other

    @cached_property
    def side(self) -> np.ndarray:
        """2 * seg + d: one index per connection and direction."""
        side = self.seg * 2
        side += self.d
        return side


def first_row_per(groups: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """The smallest of ``rows`` per group 0..n-1 (``groups[i]`` is the group of ``rows[i]``); -1 where none."""
    out = np.full(n, NEVER, dtype=np.int64)
    np.minimum.at(out, groups, rows)
    out[out == NEVER] = -1
    return out


def max_per(groups: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """The largest of ``values`` per group 0..n-1; -1 where none (values are >= 0)."""
    out = np.full(n, -1, dtype=np.int64)
    np.maximum.at(out, groups, values)
    return out


def keep_first(states: States, names: tuple[str, ...], rows: np.ndarray, columns: tuple[np.ndarray, ...]) -> None:
    """Where ``names[0]`` is still -1 and ``rows`` (one per state value, -1: none) found one: take the row's values."""
    first = states[names[0]].reshape(-1).copy()
    new = (first < 0) & (rows >= 0)
    at = rows[new]
    for name, values in zip(names, columns):
        merged = states[name].reshape(-1).copy()
        merged[new] = values[at]
        states[name] = merged.reshape(states[name].shape)


def _merge_max(states: States, name: str, values: np.ndarray) -> None:
    states[name] = np.maximum(states[name], values.reshape(states[name].shape))


def _merge_min(states: States, name: str, values: np.ndarray) -> None:
    """The smaller of the carried and the batch's value, -1 (none) on either side giving way to the other."""
    carried, batch = states[name], values.reshape(states[name].shape)
    states[name] = np.where(carried < 0, batch, np.where(batch < 0, carried, np.minimum(carried, batch)))


def _add(states: States, name: str, values: np.ndarray) -> None:
    states[name] = states[name] + values.reshape(states[name].shape).astype(np.int64)


def update(states: States, rows: BatchRows, late_end_hint: np.ndarray | None = None) -> np.ndarray:
    """Fold one batch into the states of its connections (``states`` row i is segment i); returns the batch's
    retransmission mask (history letter T). ``late_end_hint``: per segment, the final late-payload end (-2: not
    hinted), as a pass run again with hints knows it."""
    m = len(states)
    side, frame, ts, flags = rows.side, rows.frame, rows.ts, rows.flags
    fin_rows, rst_rows = (np.flatnonzero((flags & bit) != 0) for bit in (F.FIN, F.RST))
    for name, picked in (("fin", fin_rows), ("rst", rst_rows)):
        keep_first(states, (f"{name}_frame", f"{name}_ts"), first_row_per(side[picked], picked, 2 * m), (frame, ts))
    data = _Payload(rows, states)
    retrans = data.retransmitted(states)
    data.late_and_lost(states, rst_rows)
    _acknowledgements(states, rows, data, late_end_hint)
    _letters(states, rows, retrans)
    _add(states, "packets", np.bincount(side, minlength=2 * m))
    _add(states, "bytes", np.bincount(side, weights=rows.length, minlength=2 * m))
    return retrans


class _Payload:
    """The batch's rows with payload (d_ names: one entry per such row)."""

    def __init__(self, rows: BatchRows, states: States):
        self.rows = np.flatnonzero(rows.length > 0)
        self.side = rows.side[self.rows]
        self.seg = self.side >> 1
        self.frame = rows.frame[self.rows]
        self.len = rows.length[self.rows]
        self.end = rows.seq[self.rows] + self.len
        fin_frame = states["fin_frame"].reshape(-1)
        peer_fin = np.where(fin_frame >= 0, fin_frame, NEVER)[self.side ^ 1]
        self.late = self.frame > peer_fin  # sent after the peer's (merged) first FIN
        self.all = rows

    def retransmitted(self, states: States) -> np.ndarray:
        """Payload ending at or before the highest end already seen in its direction (earlier batches included)."""
        n_sides = 2 * len(states)
        carried = states["max_end"].reshape(-1)[self.side]
        self.retrans = self.end <= np.maximum(previous_max(self.side, self.end), carried)
        _merge_max(states, "max_end", max_per(self.side, self.end, n_sides))
        out = np.zeros(len(self.all.frame), dtype=bool)
        out[self.rows] = self.retrans
        return out

    def late_and_lost(self, states: States, rst_rows: np.ndarray) -> None:
        rows, m = self.all, len(states)
        late_rows = self.rows[self.late]
        keep_first(states, ("late_frame", "late_ts", "late_len", "late_d"),
                    first_row_per(self.seg[self.late], late_rows, m), (rows.frame, rows.ts, rows.length, rows.d))
        # new payload after the peer's FIN is counted by sequence range (analysis.tcp.finish): from where the side had
        # got to before the FIN (or where its late payload starts) to the furthest end after it
        early = ~self.late
        _add(states, "early_bytes", np.bincount(self.side[early], weights=self.len[early], minlength=2 * m))
        _merge_max(states, "early_end", max_per(self.side[early], self.end[early], 2 * m))
        _merge_min(states, "late_start", first_row_per(self.side[self.late], (self.end - self.len)[self.late], 2 * m))
        _merge_max(states, "late_top", max_per(self.side[self.late], self.end[self.late], 2 * m))
        keep_first(states, ("payload_ts",), first_row_per(self.side, self.rows, 2 * m), (rows.ts,))
        _merge_max(states, "late_end", max_per(self.seg[self.late], self.end[self.late], m))
        # the FIN sender's RST answering the late payload
        late_frame = np.where(states["late_frame"] >= 0, states["late_frame"], NEVER)
        fin_sender = np.where(states["late_d"] >= 0, 1 - states["late_d"], -1)
        r_seg = rows.seg[rst_rows]
        answers = (rows.d[rst_rows] == fin_sender[r_seg]) & (rows.frame[rst_rows] > late_frame[r_seg])
        keep_first(states, ("answer_frame", "answer_ts"), first_row_per(r_seg[answers], rst_rows[answers], m),
                    (rows.frame, rows.ts))
        # payload of the side that did not reset, after the first RST: never delivered
        rst_frame, rst_d = first_rst(states)
        self.up_to_rst = self.frame <= np.where(rst_frame >= 0, rst_frame, NEVER)[self.seg]
        lost = ~self.up_to_rst & ((self.side & 1) != rst_d[self.seg])
        _add(states, "lost_bytes", np.bincount(self.seg[lost], weights=self.len[lost], minlength=m))
        keep_first(states, ("lost_frame",), first_row_per(self.seg[lost], self.rows[lost], m), (rows.frame,))
        sent = self.up_to_rst
        _merge_max(states, "peer_end", max_per(self.side[sent], self.end[sent], 2 * m))


def first_rst(states: States) -> tuple[np.ndarray, np.ndarray]:
    """Per connection: the frame of its first RST (-1: none) and the direction that sent it (-1: none)."""
    frames = states["rst_frame"]
    second = (frames[:, 1] >= 0) & ((frames[:, 0] < 0) | (frames[:, 1] < frames[:, 0]))
    frame = np.where(second, frames[:, 1], frames[:, 0])
    return frame, np.where(frame >= 0, second.astype(np.int64), -1)


def _acknowledgements(states: States, rows: BatchRows, data: _Payload, late_end_hint: np.ndarray | None) -> None:
    """What each side acknowledged up to the first RST, and the half-close (see the module docstring)."""
    m = len(states)
    ack_rows = np.flatnonzero((rows.flags & F.ACK) != 0)
    a_seg, a_frame, a_value = rows.seg[ack_rows], rows.frame[ack_rows], rows.ack[ack_rows]
    rst_frame, _ = first_rst(states)
    by_then = (a_frame <= np.where(rst_frame >= 0, rst_frame, NEVER)[a_seg]) & (a_value >= 0)
    _merge_max(states, "acked", max_per(rows.side[ack_rows][by_then], a_value[by_then], 2 * m))
    late_end = states["late_end"]
    if late_end_hint is not None:
        late_end = np.where(late_end_hint >= -1, late_end_hint, late_end)
    fin_sender = np.where(states["late_d"] >= 0, 1 - states["late_d"], -1)
    late_frame = np.where(states["late_frame"] >= 0, states["late_frame"], NEVER)
    covers = ((rows.flags[ack_rows] & F.RST) == 0) & (rows.d[ack_rows] == fin_sender[a_seg]) \
        & (a_frame > late_frame[a_seg])
    best = max_per(a_seg[covers], a_value[covers], m)
    enough = covers & (a_value >= late_end[a_seg])
    first = first_row_per(a_seg[enough], ack_rows[enough], m)
    kept = states["hc_frame"] >= 0
    stale = kept & (states["hc_value"] < late_end)
    states["hazard"] = states["hazard"] | np.where(stale & (states["hc_max"] >= late_end), Hazard.HALF_CLOSE, 0)
    take = (~kept | stale) & (first >= 0)
    for name, values in (("hc_frame", rows.frame), ("hc_ts", rows.ts), ("hc_value", rows.ack)):
        states[name] = np.where(take, values[np.maximum(first, 0)], np.where(stale, -1, states[name]))
    _merge_max(states, "hc_max", best)


def _letters(states: States, rows: BatchRows, retrans: np.ndarray) -> None:
    """The first frame of every history letter in each direction."""
    m = len(states)
    letters = states["letters"].copy()  # (m, 2 * letters): letter k, direction d at 2k + d
    for k, mask in enumerate(letter_masks(rows.flags, rows.length, rows.win, retrans).values()):
        picked = np.flatnonzero(mask)
        first = first_row_per(rows.side[picked], picked, 2 * m).reshape(m, 2)
        block = letters[:, 2 * k : 2 * k + 2]
        new = (block < 0) & (first >= 0)
        block[new] = rows.frame[first[new]]
    states["letters"] = letters
