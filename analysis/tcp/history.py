"""Zeek-style ``history`` strings and ``conn_state`` codes, each with its legend as data.

history: one letter per kind of event, in the order each first happened;
UPPER case when the client (originator) did it, lower case for the server
(responder). Like Zeek, each letter appears at most once per direction
(Zeek's logarithmic repeats of c/t/w are not reproduced). Zeek's ``^``
(direction flipped) is replaced by the flows column ``role_guessed``.

conn_state: the first rule of :data:`CONN_STATE_RULES` whose conditions all
hold, evaluated on per-connection booleans (see :func:`conn_states`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from analysis.rules import first_match
from analysis.tcp import flags as F
from analysis.tcp.flows import first_rows, stable_order


@dataclass(frozen=True)
class HistoryLetter:
    letter: str  # the client's (upper case) letter; the server's is its lower case
    meaning: str


#: Legend, in the order letters are tested within one packet.
HISTORY_LEGEND: tuple[HistoryLetter, ...] = (
    HistoryLetter("S", "a SYN without the ACK bit"),
    HistoryLetter("H", "a SYN-ACK (handshake answer)"),
    HistoryLetter("A", "a pure ACK (no payload, no SYN/FIN/RST)"),
    HistoryLetter("D", "a packet with payload (data)"),
    HistoryLetter("T", "a retransmitted payload (ends at or before data already seen in that direction)"),
    HistoryLetter("W", "a zero window advertisement (not on SYN or RST)"),
    HistoryLetter("F", "a packet with FIN"),
    HistoryLetter("R", "a packet with RST"),
)


def _letter_masks(pk: pd.DataFrame, retrans: np.ndarray | None = None) -> dict[str, np.ndarray]:
    flags = pk["flags"].to_numpy()
    length = pk["len"].to_numpy()
    syn = (flags & F.SYN) != 0
    ack = (flags & F.ACK) != 0
    fin = (flags & F.FIN) != 0
    rst = (flags & F.RST) != 0
    return {
        "S": syn & ~ack,
        "H": syn & ack,
        "A": ack & ~syn & ~fin & ~rst & (length == 0),
        "D": length > 0,
        "T": retransmitted(pk) if retrans is None else retrans,
        "W": (pk["win"].to_numpy() == 0) & ~syn & ~rst,
        "F": fin,
        "R": rst,
    }


def _sides(pk: pd.DataFrame) -> np.ndarray:
    """2c for the client's packets of connection c, 2c+1 for the server's."""
    side = pk["conn"].to_numpy(np.int64) * 2
    side += ~pk["from_client"].to_numpy(bool)
    return side


def retransmitted(pk: pd.DataFrame, side: np.ndarray | None = None) -> np.ndarray:
    """Payload packets that end at or before the highest end already seen in their direction.

    ``side``: :func:`_sides` of ``pk``, when the caller has it already.
    """
    length = pk["len"].to_numpy(np.int64)
    side = _sides(pk) if side is None else side
    data_rows = np.flatnonzero(length > 0)  # only payload has an end: other rows neither count nor raise the maximum
    seq_end = pk["seq"].to_numpy(np.int64)[data_rows] + length[data_rows]
    out = np.zeros(len(length), dtype=bool)
    out[data_rows] = seq_end <= _previous_max(side[data_rows], seq_end)
    return out


#: seq + len + 1 stays below this (32-bit sequence space plus one segment), so
#: group number * _GROUP_STRIDE keeps every group's running maximum apart
#: (up to 2**27 groups in int64).
_GROUP_STRIDE = 1 << 36


def _previous_max(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per row: the largest value in earlier rows of its group, -1 when none (values >= -1; groups >= 0)."""
    n = len(values)
    out = np.full(n, -1, dtype=np.int64)
    if n < 2:
        return out
    order = stable_order(groups, int(groups.max()) + 1)  # rows grouped, each group in row order
    g = groups[order]
    starts = np.empty(n, dtype=bool)
    starts[0] = True
    np.not_equal(g[1:], g[:-1], out=starts[1:])
    del g
    offset = np.cumsum(starts, dtype=np.int64)
    offset *= _GROUP_STRIDE
    running = values[order]
    running += 1
    running += offset
    np.maximum.accumulate(running, out=running)
    running -= offset
    running -= 1
    del offset
    out[order[1:]] = running[:-1]
    out[order[starts]] = -1
    return out


def histories(pk: pd.DataFrame, n_conn: int, retrans: np.ndarray | None = None,
              side: np.ndarray | None = None) -> pd.array:
    """History string (a ``string`` array) of every connection 0..n_conn-1 from annotated packets (flows.assign_connections).

    A (connection x letter-and-side) table of first frames, sorted along each
    row: letters by the frame that first showed them, ties in legend order.
    ``side``: as for :func:`retransmitted`.
    """
    side = _sides(pk) if side is None else side
    frame_rank = _frame_ranks(pk["frame"].to_numpy())
    width = 2 * len(HISTORY_LEGEND)
    column_bits = (width - 1).bit_length()
    # a cell holds (frame rank << column_bits) | column: sorting a row orders its letters by frame, ties by column
    cell_type = np.int32 if (len(side) + 1) << column_bits <= np.iinfo(np.int32).max else np.int64
    never = np.iinfo(cell_type).max  # absent letters sort last
    cells = np.empty((n_conn, len(HISTORY_LEGEND), 2), dtype=cell_type)  # [conn, letter, client/server]
    count = np.zeros(2 * n_conn, dtype=np.int64)  # letters present per side
    letters = []
    for order, (letter, mask) in enumerate(_letter_masks(pk, retrans).items()):
        first = first_rows(side, mask, 2 * n_conn)  # 2c: the client's first row, 2c+1: the server's
        absent = first < 0
        count += ~absent
        cell = (first if frame_rank is None else frame_rank[np.maximum(first, 0)]).astype(cell_type)
        cell <<= column_bits
        cell |= 2 * order + (np.arange(len(first), dtype=cell_type) & 1)
        cell[absent] = never
        cells[:, order, :] = cell.reshape(n_conn, 2)
        letters += [letter, letter.lower()]
    cells = cells.reshape(n_conn, width)
    cells.sort(axis=1)
    count = count[0::2] + count[1::2]
    present = np.arange(width) < count[:, None]
    # Arrow strings straight from the buffers (pandas keeps large_string): each row's present letters, one after the other
    text = np.array([ord(c) for c in letters], dtype=np.uint8)[cells[present] & ((1 << column_bits) - 1)]
    offsets = np.zeros(n_conn + 1, dtype=np.int64)
    np.cumsum(count, out=offsets[1:])
    strings = pa.LargeStringArray.from_buffers(n_conn, pa.py_buffer(offsets), pa.py_buffer(text))
    return pd.array(strings, dtype="string")


def _frame_ranks(frame: np.ndarray) -> np.ndarray | None:
    """Per row, a number that orders rows as their frames do (equal frames, equal numbers): None when that is the
    row itself (frames increase: annotated packets are sorted by frame), else the frame's rank among the distinct ones."""
    if len(frame) < 2 or (frame[1:] > frame[:-1]).all():
        return None
    return np.unique(frame, return_inverse=True)[1].reshape(-1)


@dataclass(frozen=True)
class ConnStateRule:
    state: str
    meaning: str
    all_of: tuple[str, ...] = ()  # per-connection booleans that must be true
    none_of: tuple[str, ...] = ()  # ... and false


#: Zeek's conn_state codes. Booleans: client_syn (client sent SYN), server_synack,
#: client_fin, server_fin, client_rst, server_rst, client_rst_first (the first RST was the client's),
#: server_sent (the server sent anything).
CONN_STATE_RULES: tuple[ConnStateRule, ...] = (
    ConnStateRule("REJ", "connection attempt rejected (SYN answered by RST, no SYN-ACK)",
                  ("client_syn", "server_rst"), ("server_synack",)),
    ConnStateRule("RSTOS0", "client sent SYN then RST; no SYN-ACK seen", ("client_syn", "client_rst"), ("server_synack",)),
    ConnStateRule("SH", "client sent SYN then FIN; no SYN-ACK seen (half-open)",
                  ("client_syn", "client_fin"), ("server_synack",)),
    ConnStateRule("S0", "connection attempt seen, no reply", ("client_syn",), ("server_sent",)),
    ConnStateRule("RSTRH", "server sent SYN-ACK then RST; no client SYN seen",
                  ("server_synack", "server_rst"), ("client_syn",)),
    ConnStateRule("SHR", "server sent SYN-ACK then FIN; no client SYN seen",
                  ("server_synack", "server_fin"), ("client_syn",)),
    ConnStateRule("RSTO", "established, the client aborted (its RST came first)", ("client_rst_first",)),
    ConnStateRule("RSTR", "established, the server aborted (its RST came first)", ("server_rst",), ("client_rst_first",)),
    ConnStateRule("SF", "normal establishment and termination (FIN both ways)", ("client_fin", "server_fin")),
    ConnStateRule("S2", "established, the client closed (FIN) but no FIN from the server",
                  ("client_fin",), ("server_fin",)),
    ConnStateRule("S3", "established, the server closed (FIN) but no FIN from the client",
                  ("server_fin",), ("client_fin",)),
    ConnStateRule("S1", "established, not terminated", ("client_syn", "server_synack")),
    ConnStateRule("OTH", "no SYN seen, mid-stream traffic not closed"),
)
CONN_STATE_LEGEND: dict[str, str] = {r.state: r.meaning for r in CONN_STATE_RULES}


def conn_states(booleans: pd.DataFrame) -> np.ndarray:
    """Apply :data:`CONN_STATE_RULES` (first match wins) to a frame with one boolean column per name."""
    states = np.array([rule.state for rule in CONN_STATE_RULES], dtype=object)
    return states[conn_state_codes(booleans)]


def conn_state_codes(booleans: pd.DataFrame | dict[str, np.ndarray]) -> np.ndarray:
    """:func:`conn_states` as indices into :data:`CONN_STATE_RULES` (a frame or a dict of boolean arrays)."""
    return first_match(CONN_STATE_RULES, booleans, len(booleans[next(iter(booleans))]))
