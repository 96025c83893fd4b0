"""What the streamed connection pass remembers about a connection between batches: one int64 row per connection.

A connection's state is everything its flows-table row is made from
(analysis.tcp.finish), kept as numbers: frames, times, byte counts, the
first frame of each history letter. Two-wide fields hold one value per
*direction*: ``d = 0`` for packets sent by the endpoint that sent the
connection's first packet, ``d = 1`` for the other. Directions, not roles,
because the roles (rule 3 of analysis.tcp.flows) may still change when a
later batch brings the SYN; they are applied once, when the row is finished.
-1 means "none yet" for frames, times, sequence numbers and endpoints.

The rows live in one 2-D array (``States.rows``), so that the states of a
batch's connections are gathered and written back in one operation each.
About 0.7 KB a connection (:data:`WIDTH` int64 columns).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag

import numpy as np

from analysis.tcp.history import HISTORY_LEGEND

NONE = -1


class Hazard(IntFlag):
    """What a later batch changed about what an earlier one had assumed for a connection (the ``hazard`` field).
    A pass that saw any is run again knowing the final answer (analysis.tcp.fold.Hints)."""

    ISN = 1  # an ISN learnt after packets that needed it (their relative seq/ack, retransmissions, ends)
    HALF_CLOSE = 2  # late payload outgrew the acknowledgement kept as the half-close, and an earlier one may cover it
    ROLES = 4  # the client changed after the connection's first batch (its id text, its packets' sides)

#: (field, width, initial value)
FIELDS: tuple[tuple[str, int, int], ...] = (
    ("conn", 1, NONE),  # the connection number (order of first packet)
    ("first_src", 1, NONE), ("first_dst", 1, NONE),  # endpoints (address id * 65536 + port) of the first packet
    ("first_frame", 1, NONE), ("first_ts", 1, NONE), ("last_frame", 1, NONE), ("last_ts", 1, NONE),
    ("first_file", 1, NONE), ("last_file", 1, NONE), ("ip_version", 1, NONE), ("vlan", 1, NONE),
    ("syn_frame", 1, NONE), ("syn_ep", 1, NONE),  # the first SYN without ACK, and its sender (rule 3)
    ("synack_frame", 1, NONE), ("synack_ep", 1, NONE),  # the first SYN-ACK, and its receiver
    ("text_client", 1, NONE), ("text_key", 1, NONE), ("nth", 1, NONE),  # the id text as numbered at first sight
    ("hazard", 1, 0),  # analysis.tcp.fold.Hazard bits: what later batches changed about earlier ones
    ("packets", 2, 0), ("bytes", 2, 0),
    ("isn", 2, NONE), ("isn_pending", 2, 0),  # rows were read while this ISN was unknown
    ("fin_frame", 2, NONE), ("fin_ts", 2, NONE), ("rst_frame", 2, NONE), ("rst_ts", 2, NONE),
    ("max_end", 2, NONE),  # highest seq + len of payload so far (retransmission test)
    ("peer_end", 2, NONE), ("acked", 2, NONE),  # highest payload end / acknowledgement, up to the first RST
    ("early_bytes", 2, 0), ("early_end", 2, NONE),  # all payload before the peer's FIN, and its highest end
    ("late_start", 2, NONE), ("late_top", 2, NONE),  # lowest start / highest end of payload after the peer's FIN
    ("payload_ts", 2, NONE),  # the first payload's time
    ("zero_window_frame", 2, NONE), ("zero_window_ts", 2, NONE),  # the trailing run of zero windows before the first RST
    ("late_frame", 1, NONE), ("late_ts", 1, NONE), ("late_len", 1, NONE), ("late_d", 1, NONE),
    ("late_end", 1, NONE),  # highest payload end of all data sent after the peer's FIN
    ("answer_frame", 1, NONE), ("answer_ts", 1, NONE),
    ("lost_bytes", 1, 0), ("lost_frame", 1, NONE),
    ("hc_frame", 1, NONE), ("hc_ts", 1, NONE), ("hc_value", 1, NONE),  # half-close: the acknowledgement so far
    ("hc_max", 1, NONE),  # the highest acknowledgement that could have been one
    ("letters", 2 * len(HISTORY_LEGEND), NONE),  # first frame of each history letter, [letter][d]
)

OFFSET: dict[str, int] = {}
_INITIAL: list[int] = []
for _name, _width, _initial in FIELDS:
    OFFSET[_name] = len(_INITIAL)
    _INITIAL += [_initial] * _width
WIDTH = len(_INITIAL)
_SPAN = {name: (OFFSET[name], OFFSET[name] + width) for name, width, _ in FIELDS}
_INITIAL_ROW = np.array(_INITIAL, dtype=np.int64)


@dataclass
class States:
    """Connection states; ``states["fin_frame"]`` is an (n, 2) view, ``states["conn"]`` an (n,) view.

    Stored field by field (``rows`` is WIDTH x n), so that reading or writing
    one field of every connection touches that field's memory only.
    """

    rows: np.ndarray  # (WIDTH, n) int64

    @classmethod
    def fresh(cls, n: int) -> States:
        return cls(np.repeat(_INITIAL_ROW[:, None], n, axis=1))

    @classmethod
    def joined(cls, parts: list[States]) -> States:
        return cls(np.concatenate([p.rows for p in parts], axis=1) if parts else np.zeros((WIDTH, 0), np.int64))

    def __len__(self) -> int:
        return self.rows.shape[1]

    def __getitem__(self, name: str) -> np.ndarray:
        start, stop = _SPAN[name]
        return self.rows[start] if stop == start + 1 else self.rows[start:stop].T

    def __setitem__(self, name: str, values) -> None:
        start, stop = _SPAN[name]
        if stop == start + 1:
            self.rows[start] = values
        else:
            self.rows[start:stop] = np.asarray(values).T

    def take(self, index: np.ndarray) -> States:
        """The states at these positions (or where this mask holds)."""
        index = np.flatnonzero(index) if index.dtype == bool else index
        return States(np.take(self.rows, index, axis=1))

    def put(self, index: np.ndarray, states: States) -> None:
        self.rows[:, index] = states.rows

    def part(self, start: int, stop: int) -> States:
        """The states at positions start to stop, a view (no copy)."""
        return self if (start, stop) == (0, len(self)) else States(self.rows[:, start:stop])


class LiveStates:
    """The state of each key's current connection (the one a later packet of that key would join), by key id."""

    def __init__(self) -> None:
        self.states = States(np.zeros((WIDTH, 0), dtype=np.int64))

    def get(self, keys: np.ndarray) -> States:
        return self.states.take(keys)

    def put(self, keys: np.ndarray, states: States) -> None:
        needed = int(keys.max()) + 1 if len(keys) else 0
        have = len(self.states)
        if needed > have:  # double at least: amortised
            grown = np.empty((WIDTH, max(needed, 2 * have, 1024)), dtype=np.int64)
            grown[:, :have] = self.states.rows
            self.states = States(grown)
        self.states.put(keys, states)
