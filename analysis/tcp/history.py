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

from analysis.tcp import flags as F
from analysis.tcp.flows import first_rows


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
    flags = pk["flags"].to_numpy(np.int64)
    length = pk["len"].to_numpy(np.int64)
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
        "W": (pk["win"].to_numpy(np.int64) == 0) & ~syn & ~rst,
        "F": fin,
        "R": rst,
    }


def retransmitted(pk: pd.DataFrame) -> np.ndarray:
    """Payload packets that end at or before the highest end already seen in their direction."""
    length = pk["len"].to_numpy(np.int64)
    side = pk["conn"].to_numpy(np.int64) * 2 + (~pk["from_client"].to_numpy(bool)).astype(np.int64)
    seq_end = np.where(length > 0, pk["seq"].to_numpy(np.int64) + length, -1)
    return (length > 0) & (seq_end <= _previous_max(side, seq_end))


#: seq + len + 1 stays below this (32-bit sequence space plus one segment), so
#: group number * _GROUP_STRIDE keeps every group's running maximum apart
#: (up to 2**27 groups in int64).
_GROUP_STRIDE = 1 << 36


def _previous_max(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per row: the largest value in earlier rows of its group, -1 when none (values >= -1)."""
    n = len(values)
    out = np.full(n, -1, dtype=np.int64)
    if n < 2:
        return out
    order = np.argsort(groups, kind="stable")  # rows grouped, each group in row order
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


def histories(pk: pd.DataFrame, n_conn: int, retrans: np.ndarray | None = None) -> np.ndarray:
    """History string of every connection 0..n_conn-1 from annotated packets (flows.assign_connections).

    A (connection x letter-and-side) table of first frames, sorted along each
    row: letters by the frame that first showed them, ties in legend order.
    """
    conn = pk["conn"].to_numpy(np.int64)
    client = pk["from_client"].to_numpy(bool)
    frame = pk["frame"].to_numpy(np.int64)
    width = 2 * len(HISTORY_LEGEND)
    never = np.iinfo(np.int64).max
    firsts = np.full((n_conn, width), never, dtype=np.int64)
    letters = []
    for order, (letter, mask) in enumerate(_letter_masks(pk, retrans).items()):
        for j, (is_client, text) in enumerate(((True, letter), (False, letter.lower()))):
            first = first_rows(conn, mask & (client == is_client), n_conn)
            seen = np.flatnonzero(first >= 0)
            firsts[seen, 2 * order + j] = frame[first[seen]]
            letters.append(text)
    if n_conn == 0:
        return np.full(0, "", dtype=object)
    count = (firsts != never).sum(axis=1)  # absent letters (never) sort last
    columns = np.argsort(firsts, axis=1, kind="stable")
    del firsts
    grid = np.array([ord(c) for c in letters], dtype=np.uint32)[columns]  # code points, read as UCS-4 text below
    del columns
    grid[np.arange(width) >= count[:, None]] = 0
    return grid.view(f"<U{width}").ravel().astype(object)  # each row's letters, read as one string


@dataclass(frozen=True)
class ConnStateRule:
    state: str
    meaning: str
    all_of: tuple[str, ...] = ()  # per-connection booleans that must be true
    none_of: tuple[str, ...] = ()  # ... and false


#: Zeek's conn_state codes. Booleans: c_syn (client sent SYN), s_synack,
#: c_fin, s_fin, c_rst, s_rst, c_rst_first (the first RST was the client's),
#: s_any (the server sent anything).
CONN_STATE_RULES: tuple[ConnStateRule, ...] = (
    ConnStateRule("REJ", "connection attempt rejected (SYN answered by RST, no SYN-ACK)", ("c_syn", "s_rst"), ("s_synack",)),
    ConnStateRule("RSTOS0", "client sent SYN then RST; no SYN-ACK seen", ("c_syn", "c_rst"), ("s_synack",)),
    ConnStateRule("SH", "client sent SYN then FIN; no SYN-ACK seen (half-open)", ("c_syn", "c_fin"), ("s_synack",)),
    ConnStateRule("S0", "connection attempt seen, no reply", ("c_syn",), ("s_any",)),
    ConnStateRule("RSTRH", "server sent SYN-ACK then RST; no client SYN seen", ("s_synack", "s_rst"), ("c_syn",)),
    ConnStateRule("SHR", "server sent SYN-ACK then FIN; no client SYN seen", ("s_synack", "s_fin"), ("c_syn",)),
    ConnStateRule("RSTO", "established, the client aborted (its RST came first)", ("c_rst_first",)),
    ConnStateRule("RSTR", "established, the server aborted (its RST came first)", ("s_rst",), ("c_rst_first",)),
    ConnStateRule("SF", "normal establishment and termination (FIN both ways)", ("c_fin", "s_fin")),
    ConnStateRule("S2", "established, the client closed (FIN) but no FIN from the server", ("c_fin",), ("s_fin",)),
    ConnStateRule("S3", "established, the server closed (FIN) but no FIN from the client", ("s_fin",), ("c_fin",)),
    ConnStateRule("S1", "established, not terminated", ("c_syn", "s_synack")),
    ConnStateRule("OTH", "no SYN seen, mid-stream traffic not closed"),
)
CONN_STATE_LEGEND: dict[str, str] = {r.state: r.meaning for r in CONN_STATE_RULES}


def conn_states(booleans: pd.DataFrame) -> np.ndarray:
    """Apply :data:`CONN_STATE_RULES` (first match wins) to a frame with one boolean column per name."""
    n = len(booleans)
    out = np.full(n, CONN_STATE_RULES[-1].state, dtype=object)
    decided = np.zeros(n, dtype=bool)
    for rule in CONN_STATE_RULES:
        cond = ~decided
        for name in rule.all_of:
            cond &= booleans[name].to_numpy(bool)
        for name in rule.none_of:
            cond &= ~booleans[name].to_numpy(bool)
        out[cond] = rule.state
        decided |= cond
    return out
