"""The close facts, history and conn_state on the whole annotated packet table (the code before streaming)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from analysis.tcp import flags as F
from analysis.tcp import sides
from analysis.tcp.facts import first_row_per
from analysis.tcp.history import CONN_STATE_RULES, HISTORY_LEGEND, conn_state_codes, letter_masks
from analysis.tcp.history import previous_max as _previous_max
from analysis.tcp.sides import SIDES
from tests.analysis.tcp.reference.flows import first_rows
from tests.analysis.tcp.reference.windows import zero_window_before_rst

_STATE_TEXTS = pa.array([rule.state for rule in CONN_STATE_RULES], pa.large_string())
_NEVER = np.iinfo(np.int64).max


def _letter_masks(pk: pd.DataFrame, retrans: np.ndarray | None = None) -> dict[str, np.ndarray]:
    retrans = retransmitted(pk) if retrans is None else retrans
    return letter_masks(pk["flags"].to_numpy(), pk["len"].to_numpy(), pk["win"].to_numpy(), retrans)


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


def _frame_ranks(frame: np.ndarray) -> np.ndarray | None:
    """Per row, a number that orders rows as their frames do (equal frames, equal numbers): None when that is the
    row itself (frames increase: annotated packets are sorted by frame), else the frame's rank among the distinct ones."""
    if len(frame) < 2 or (frame[1:] > frame[:-1]).all():
        return None
    return np.unique(frame, return_inverse=True)[1].reshape(-1)


def _first_per(keys: np.ndarray, rows: np.ndarray, n_keys: int) -> np.ndarray:
    return first_row_per(keys, rows, n_keys)


def _max_per(keys: np.ndarray, values: np.ndarray, n_keys: int) -> np.ndarray:
    """The largest of ``values`` per key 0..n_keys-1 (``keys[i]`` is the key of ``values[i]``); -1 where none."""
    out = np.full(n_keys, -1, dtype=np.int64)
    np.maximum.at(out, keys, values)
    return out


def _first_of_conn(side_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """From the first row of each side (2c client, 2c+1 server; -1: none): each connection's first row of the two
    (-1: none) and its side (0 client, 1 server, -1 none)."""
    client, server = side_rows[0::2], side_rows[1::2]
    server_first = (server >= 0) & ((client < 0) | (server < client))
    rows = np.where(server_first, server, client)
    return rows, np.where(rows >= 0, server_first.astype(np.int64), -1)


def _at(values: np.ndarray, rows: np.ndarray, missing) -> np.ndarray:
    """values[rows], ``missing`` where rows == -1."""
    return np.where(rows >= 0, values[np.maximum(rows, 0)], missing) if len(values) else np.full(len(rows), missing)


def _take(values: np.ndarray, rows: np.ndarray) -> pd.arrays.IntegerArray:
    """values[rows] as a nullable Int64 array, <NA> where rows == -1."""
    return pd.arrays.IntegerArray(_at(values, rows, 0).astype(np.int64, copy=False), rows < 0)


def add_facts(pk: pd.DataFrame, flows: pd.DataFrame) -> pd.DataFrame:
    """Return ``flows`` with the facts above, ``history`` and ``conn_state`` added.

    Most facts concern few rows (FINs, RSTs, payload): each is computed on
    those rows only, picked once, rather than on masks over every packet.
    """
    n_conn = len(flows)
    n_sides = 2 * n_conn
    flags = pk["flags"].to_numpy()  # only bit tests: no widening copy
    frame = pk["frame"].to_numpy(np.int64)
    ts = pk["ts_ns"].to_numpy(np.int64)
    conn = pk["conn"].to_numpy(np.int64)
    from_server = ~pk["from_client"].to_numpy(bool)
    side = conn * 2  # 2c: the client's packets of connection c, 2c+1: the server's
    side += from_server
    retrans = retransmitted(pk, side)
    facts: dict[str, object] = {}

    # first FIN / RST per side and overall
    flag_rows = {name: np.flatnonzero((flags & bit) != 0) for name, bit in (("fin", F.FIN), ("rst", F.RST))}
    side_firsts = {}
    for name, rows in flag_rows.items():
        per_side = side_firsts[name] = _first_per(side[rows], rows, n_sides)
        for s, label in enumerate(SIDES):
            facts[f"{name}_frame_{label}"] = _take(frame, per_side[s::2])
            facts[f"{name}_ts_ns_{label}"] = _take(ts, per_side[s::2])
        first, by = _first_of_conn(per_side)
        facts[f"first_{name}_by"] = sides.names(by)
        facts[f"first_{name}_frame"] = _take(frame, first)
        facts[f"first_{name}_ts_ns"] = _take(ts, first)

    # data after the peer's FIN (payload rows only from here on: d_ names)
    length = pk["len"].to_numpy(np.int64)
    data_rows = np.flatnonzero(length > 0)
    d_side = side[data_rows]
    d_conn = d_side >> 1
    d_frame = frame[data_rows]
    d_len = length[data_rows]
    d_end = pk["seq"].to_numpy(np.int64)[data_rows] + d_len
    fin_frame_of_side = _at(frame, side_firsts["fin"], _NEVER)
    late = d_frame > fin_frame_of_side[d_side ^ 1]  # sent after the peer's FIN
    late_first = _first_per(d_conn[late], data_rows[late], n_conn)
    late_side = _at(from_server, late_first, -1)
    facts["data_after_fin_by"] = sides.names(late_side)
    facts["data_after_fin_frame"] = _take(frame, late_first)
    facts["data_after_fin_ts_ns"] = _take(ts, late_first)
    facts["data_after_fin_len"] = _take(length, late_first)
    # new payload after the peer's FIN, by sequence range: from where the side had got to before the FIN (or where its
    # late data starts) to the furthest end after it; retransmissions and segments that fill a gap count once
    late_end = _max_per(d_side[late], d_end[late], n_sides)
    reached = np.maximum(_max_per(d_side[~late], d_end[~late], n_sides), _first_per(d_side[late], (d_end - d_len)[late], n_sides))
    late_bytes = np.where(late_end >= 0, np.maximum(late_end - reached, 0), 0)
    early_bytes = np.bincount(d_side[~late], weights=d_len[~late], minlength=n_sides)
    for s, label in enumerate(SIDES):
        facts[f"bytes_after_peer_fin_{label}"] = late_bytes[s::2].astype(np.int64)
        facts[f"bytes_before_peer_fin_{label}"] = early_bytes[s::2].astype(np.int64)
    first_payload = _first_per(d_side, data_rows, n_sides)
    for s, label in enumerate(SIDES):
        facts[f"first_payload_ts_ns_{label}"] = _take(ts, first_payload[s::2])

    # the FIN sender's RST answering that data
    late_frame = _at(frame, late_first, _NEVER)
    fin_sender_side = np.where(late_side >= 0, 1 - late_side, -1)  # per conn: side index of the FIN sender
    rst_rows = flag_rows["rst"]
    r_conn = conn[rst_rows]
    answers = (from_server[rst_rows] == fin_sender_side[r_conn]) & (frame[rst_rows] > late_frame[r_conn])
    answer_first = _first_per(r_conn[answers], rst_rows[answers], n_conn)
    facts["rst_answer_frame"] = _take(frame, answer_first)
    facts["rst_answer_ts_ns"] = _take(ts, answer_first)
    facts["rst_answer_delay_ns"] = facts["rst_answer_ts_ns"] - facts["data_after_fin_ts_ns"]

    # data lost after the first RST
    rst_first, rst_side = _first_of_conn(side_firsts["rst"])
    rst_frame = _at(frame, rst_first, _NEVER)
    d_upto_rst = d_frame <= rst_frame[d_conn]
    d_other_side = (d_side & 1) != rst_side[d_conn]  # not the RST sender (every side when no RST)
    lost = ~d_upto_rst & d_other_side
    facts["lost_after_rst_bytes"] = np.bincount(d_conn[lost], weights=d_len[lost], minlength=n_conn).astype(np.int64)
    facts["lost_after_rst_frame"] = _take(frame, _first_per(d_conn[lost], data_rows[lost], n_conn))
    sent = d_upto_rst & d_other_side
    peer_end = _max_per(d_conn[sent], d_end[sent], n_conn)
    # ACKs matter in connections with an RST (acknowledged at the RST) or with late data (half-close)
    has_rst, has_late = rst_first >= 0, late_first >= 0
    ack_rows = np.flatnonzero(((flags & F.ACK) != 0) & (has_rst | has_late)[conn])
    a_conn = conn[ack_rows]
    a_frame = frame[ack_rows]
    a_from_server = from_server[ack_rows]
    a_value = pk["ack"].array[ack_rows].to_numpy(np.int64, na_value=-1)
    by_rst_sender = has_rst[a_conn] & (a_frame <= rst_frame[a_conn]) & (a_from_server == rst_side[a_conn]) & (a_value >= 0)
    acked = _max_per(a_conn[by_rst_sender], a_value[by_rst_sender], n_conn)
    unacked = np.where(has_rst & (acked >= 0), np.maximum(peer_end - acked, 0), -1)
    facts["unacked_at_rst_bytes"] = pd.arrays.IntegerArray(unacked, unacked < 0)
    facts.update(zero_window_before_rst(pk, rst_first, rst_side))

    # half-close: the FIN sender acknowledges the peer's later data
    late_end = _max_per(d_conn[late], d_end[late], n_conn)
    acks_it = ((flags[ack_rows] & F.RST) == 0) & (a_from_server == fin_sender_side[a_conn]) \
        & (a_frame > late_frame[a_conn]) & (a_value >= late_end[a_conn])
    hc_first = _first_per(a_conn[acks_it], ack_rows[acks_it], n_conn)
    facts["half_close_by"] = sides.names(np.where(hc_first >= 0, fin_sender_side, -1))
    facts["half_close_frame"] = _take(frame, hc_first)
    facts["half_close_ts_ns"] = _take(ts, hc_first)
    del d_side, d_conn, d_frame, d_len, d_end, late, d_upto_rst, d_other_side, lost, sent  # before the
    del ack_rows, a_conn, a_frame, a_from_server, a_value, by_rst_sender, acks_it  # history's own working memory

    # history and conn_state
    facts["history"] = histories(pk, n_conn, retrans, side)
    syn_rows = np.flatnonzero((flags & F.SYN) != 0)
    s_conn = conn[syn_rows]
    s_ack = (flags[syn_rows] & F.ACK) != 0
    s_server = from_server[syn_rows]
    state = conn_state_codes({
        "client_syn": _any(s_conn, ~s_ack & ~s_server, n_conn),
        "server_synack": _any(s_conn, s_ack & s_server, n_conn),
        "client_fin": side_firsts["fin"][0::2] >= 0,
        "server_fin": side_firsts["fin"][1::2] >= 0,
        "client_rst": side_firsts["rst"][0::2] >= 0,
        "server_rst": side_firsts["rst"][1::2] >= 0,
        "client_rst_first": rst_side == 0,
        "server_sent": np.bincount(side, minlength=n_sides)[1::2] > 0,
    })
    facts["conn_state"] = pd.array(_STATE_TEXTS.take(pa.array(state)), dtype="string")
    return pd.concat([flows, pd.DataFrame(facts, index=flows.index, copy=False)], axis=1)


def _any(conn: np.ndarray, mask: np.ndarray, n_conn: int) -> np.ndarray:
    return np.bincount(conn[mask], minlength=n_conn) > 0


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
