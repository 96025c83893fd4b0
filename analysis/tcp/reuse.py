"""Rule 2 of analysis.tcp.flows across batches: where a reused key starts a new connection, and which rows are whose.

Per key, three facts carry from one batch to the next: whether a SYN
without ACK was seen, that SYN's sequence number, and whether a FIN or RST
came since (or since the key's first packet, before any SYN). A SYN of a
batch reopens its key when a FIN or RST came since the previous SYN (in the
batch, else as carried) and its ISN differs from that SYN's, exactly as the
whole-table rule; the key's first packet always starts its first connection.

The batch's rows are cut into *segments*, one per connection they belong to:
a key's rows before its first new start continue the connection it had at
the end of the previous batch (``carried``); each start begins a new one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.tcp.flows import group_starts, stable_order


@dataclass
class Segments:
    """The connections a batch's rows belong to, numbered 0..m-1 in order of their first row in the batch."""

    of_row: np.ndarray  # per row: its segment
    key: np.ndarray  # per segment: its key id
    start: np.ndarray  # per segment: its first row in the batch
    carried: np.ndarray  # per segment: it continues its key's connection from an earlier batch
    last: np.ndarray  # per segment: its key's connection after the batch (a later packet of the key joins it)
    ended: np.ndarray  # keys whose connection from an earlier batch ends before any row of this one (reopened)


class ReuseState:
    """Per key id: a SYN (no ACK) seen, its sequence number, a FIN/RST since."""

    def __init__(self) -> None:
        self.has_syn = np.zeros(0, dtype=bool)
        self.syn_isn = np.zeros(0, dtype=np.int64)
        self.closed = np.zeros(0, dtype=bool)

    def grow(self, n_keys: int) -> None:
        if n_keys > len(self.has_syn):
            extra = max(n_keys, len(self.has_syn) * 3 // 2) - len(self.has_syn)
            self.has_syn = np.concatenate([self.has_syn, np.zeros(extra, dtype=bool)])
            self.syn_isn = np.concatenate([self.syn_isn, np.full(extra, -1, dtype=np.int64)])
            self.closed = np.concatenate([self.closed, np.zeros(extra, dtype=bool)])


def segments(key: np.ndarray, n_keys: int, fresh_rows: np.ndarray, pure_syn: np.ndarray, closing: np.ndarray,
             seq_raw: np.ndarray, state: ReuseState) -> Segments:
    """Cut a batch's rows into connections (rule 2) and update ``state`` past the batch (keys are 0..n_keys-1)."""
    n = len(key)
    starts = np.zeros(n, dtype=bool)
    starts[fresh_rows] = True  # a key's first packet ever
    reopening = _reopening(key, n_keys, starts, pure_syn, closing, seq_raw, state)
    starts[reopening] = True
    _carry(key, n_keys, pure_syn, closing, seq_raw, state)
    order = stable_order(key, n_keys)
    grouped = key[order]
    group_start = np.ones(n, dtype=bool)
    if n > 1:
        np.not_equal(grouped[1:], grouped[:-1], out=group_start[1:])
    begins = starts[order] | group_start
    segment = np.cumsum(begins) - 1  # segments grouped by key, in row order within a key
    first_row = order[begins]
    by_row = np.argsort(first_row, kind="stable")  # renumber segments in order of their first row
    rank = np.empty_like(by_row)
    rank[by_row] = np.arange(len(by_row))
    of_row = np.empty(n, dtype=np.int64)
    of_row[order] = rank[segment]
    last = np.zeros(len(first_row), dtype=bool)
    if n:
        last[segment[np.r_[group_start[1:], True]]] = True  # the segment of each key's last row
    reopened_first = np.zeros(n, dtype=bool)
    reopened_first[reopening] = True
    key_first = order[group_start]
    return Segments(of_row=of_row, key=key[first_row][by_row], start=first_row[by_row],
                    carried=~starts[first_row][by_row], last=last[by_row], ended=key[key_first[reopened_first[key_first]]])


def _reopening(key: np.ndarray, n_keys: int, starts: np.ndarray, pure_syn: np.ndarray,
               closing: np.ndarray, seq_raw: np.ndarray, state: ReuseState) -> np.ndarray:
    """Rows of the SYNs that start a new connection on their key: only SYNs and FIN/RST rows of keys with a SYN
    that is not their first packet are looked at, grouped by key (row order within a key)."""
    eligible = pure_syn & ~starts
    if not eligible.any():
        return np.zeros(0, dtype=np.int64)
    suspect = np.zeros(n_keys, dtype=bool)
    suspect[key[eligible]] = True
    events = np.flatnonzero((pure_syn | closing) & suspect[key])
    events = events[np.argsort(key[events], kind="stable")]
    event_key, event_closes = key[events], closing[events]
    closes_before = np.cumsum(event_closes, dtype=np.int64)  # FIN/RST rows before each event, in its key
    closes_before -= event_closes
    closes_before -= closes_before[group_starts(event_key)]
    at_syn = pure_syn[events]
    rows, syn_key, syn_closes = events[at_syn], event_key[at_syn], closes_before[at_syn]
    isn = seq_raw[rows]
    after = np.zeros(len(rows), dtype=bool)  # the previous SYN of the key is in this batch
    after[1:] = syn_key[1:] == syn_key[:-1]
    closed_since = syn_closes.copy()
    closed_since[1:] -= np.where(after[1:], syn_closes[:-1], 0)
    closed_since += np.where(after, 0, state.closed[syn_key])  # what came before the batch
    had_syn = after | state.has_syn[syn_key]
    previous_isn = np.where(after, np.r_[-1, isn[:-1]], state.syn_isn[syn_key])
    reopen = (closed_since > 0) & (~had_syn | (isn != previous_isn)) & ~starts[rows]
    return rows[reopen]


def _carry(key: np.ndarray, n_keys: int, pure_syn: np.ndarray, closing: np.ndarray,
           seq_raw: np.ndarray, state: ReuseState) -> None:
    """The three facts of every key, as they stand after the batch."""
    syn_rows, close_rows = np.flatnonzero(pure_syn), np.flatnonzero(closing)
    last_syn = np.full(n_keys, -1, dtype=np.int64)
    np.maximum.at(last_syn, key[syn_rows], syn_rows)
    last_close = np.full(n_keys, -1, dtype=np.int64)
    np.maximum.at(last_close, key[close_rows], close_rows)
    has = last_syn >= 0
    closed = state.closed[:n_keys]
    state.closed[:n_keys] = np.where(has, last_close >= last_syn, closed | (last_close >= 0))
    state.syn_isn[:n_keys] = np.where(has, seq_raw[np.maximum(last_syn, 0)], state.syn_isn[:n_keys])
    state.has_syn[:n_keys] |= has


__all__ = ["ReuseState", "Segments", "segments"]
