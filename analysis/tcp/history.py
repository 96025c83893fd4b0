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
from analysis.tcp.flows import stable_order


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


def letter_masks(flags: np.ndarray, length: np.ndarray, win: np.ndarray, retrans: np.ndarray) -> dict[str, np.ndarray]:
    """Per packet, whether it shows each letter of :data:`HISTORY_LEGEND` (``retrans``: payload retransmitted)."""
    syn = (flags & F.SYN) != 0
    ack = (flags & F.ACK) != 0
    fin = (flags & F.FIN) != 0
    rst = (flags & F.RST) != 0
    return {
        "S": syn & ~ack,
        "H": syn & ack,
        "A": ack & ~syn & ~fin & ~rst & (length == 0),
        "D": length > 0,
        "T": retrans,
        "W": (win == 0) & ~syn & ~rst,
        "F": fin,
        "R": rst,
    }


#: seq + len + 1 stays below this (32-bit sequence space plus one segment), so
#: group number * _GROUP_STRIDE keeps every group's running maximum apart
#: (up to 2**27 groups in int64).
_GROUP_STRIDE = 1 << 36


def previous_max(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
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


def histories(first_frames: np.ndarray) -> pd.array:
    """History strings (a ``string`` array) from each connection's first frame of every letter and side:
    ``first_frames[c, k, s]``, letter k of :data:`HISTORY_LEGEND`, s 0 for the client and 1 for the server, -1: never.

    Each connection's (letter, side) cells are sorted: letters by the frame
    that first showed them, ties (one packet, several letters) in legend order.
    """
    n_conn = len(first_frames)
    width = 2 * len(HISTORY_LEGEND)
    column_bits = (width - 1).bit_length()
    # a cell holds (frame << column_bits) | column: sorting a row orders its letters by frame, ties by column
    cells = first_frames.reshape(n_conn, width).astype(np.int64)
    absent = cells < 0
    cells <<= column_bits
    cells |= np.arange(width, dtype=np.int64)  # column 2k + s: letter k, side s
    cells[absent] = np.iinfo(np.int64).max  # absent letters sort last
    cells.sort(axis=1)
    count = width - absent.sum(axis=1)
    present = np.arange(width) < count[:, None]
    letters = [c for h in HISTORY_LEGEND for c in (h.letter, h.letter.lower())]
    # Arrow strings straight from the buffers (pandas keeps large_string): each row's present letters, one after the other
    text = np.array([ord(c) for c in letters], dtype=np.uint8)[cells[present] & ((1 << column_bits) - 1)]
    offsets = np.zeros(n_conn + 1, dtype=np.int64)
    np.cumsum(count, out=offsets[1:])
    strings = pa.LargeStringArray.from_buffers(n_conn, pa.py_buffer(offsets), pa.py_buffer(text))
    return pd.array(strings, dtype="string")


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
