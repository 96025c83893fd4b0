"""The close facts of every connection, each with the frame that shows it.

Added to the flows table (one row per connection); frames are tshark frame
numbers, times are ns since the epoch, missing facts are <NA>. "After" means
later in the capture (frame order), i.e. as seen at the capture point.

- ``fin_frame_client`` / ``fin_frame_server`` (+ ``_ts_ns``): each side's first FIN;
  ``first_fin_by``/``first_fin_frame``/``first_fin_ts_ns``: whichever came first.
- ``rst_frame_client`` / ``rst_frame_server``, ``first_rst_by``/...: the same for RST.
- ``data_after_fin_by``/``_frame``/``_ts_ns``: the first payload a side sent
  after the peer's FIN ("write after peer close"); ``bytes_after_peer_fin_client``
  / ``_server``: new (non-retransmitted) payload bytes each side sent after the
  other side's FIN.
- ``rst_answer_frame``/``_ts_ns``/``_delay_ns``: the FIN sender's first RST after
  that data: the peer's kernel answering data sent to a closed socket.
- ``lost_after_rst_bytes``/``_frame``: payload the other side still sent after
  the first RST (it can never be delivered); ``unacked_at_rst_bytes``: payload
  the RST sender had received on the wire but never acknowledged when it reset
  (<NA> when it never sent an ACK).
- ``half_close_by``/``half_close_frame``: a side closed its direction (FIN),
  the peer kept sending, and the FIN sender acknowledged that data (the
  frame is that ACK): a working half-close, not an abort.
- ``bytes_before_peer_fin_client``/``_server``: payload each side had sent
  before the other's FIN (0 from the server = the request was still pending).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.tcp import flags as F
from analysis.tcp.flows import first_rows
from analysis.tcp.history import conn_states, histories, retransmitted

SIDES = ("client", "server")  # side index 0 = client, 1 = server


def _sides(pk: pd.DataFrame) -> np.ndarray:
    return pk["conn"].to_numpy(np.int64) * 2 + (~pk["from_client"].to_numpy(bool)).astype(np.int64)


def _first_rows_per(keys: np.ndarray, mask: np.ndarray, n_keys: int) -> np.ndarray:
    """Row index of the first row (row order) where mask holds, per key; -1 where none."""
    return first_rows(keys, mask, n_keys)


def _max_per(keys: np.ndarray, values: np.ndarray, mask: np.ndarray, n_keys: int) -> np.ndarray:
    """Largest value per key where mask holds; -1 where none."""
    out = np.full(n_keys, -1, dtype=np.int64)
    np.maximum.at(out, keys[mask], values[mask])
    return out


def _take(values: np.ndarray, rows: np.ndarray) -> pd.array:
    """values[rows] as a nullable Int64 array, <NA> where rows == -1."""
    taken = np.where(rows >= 0, values[np.maximum(rows, 0)], 0) if len(values) else np.zeros(len(rows), np.int64)
    arr = pd.array(taken.astype(np.int64), dtype="Int64")
    arr[rows < 0] = pd.NA
    return arr


def _side_names(index: np.ndarray) -> pd.array:
    """0 -> client, 1 -> server, -1 -> <NA>."""
    names = np.array(SIDES + (None,), dtype=object)
    return pd.array(names[np.where(index >= 0, index, 2)], dtype="string")


def add_facts(pk: pd.DataFrame, flows: pd.DataFrame) -> pd.DataFrame:
    """Return ``flows`` with the facts above, ``history`` and ``conn_state`` added."""
    n_conn = len(flows)
    fl = flows.copy()
    flags = pk["flags"].to_numpy(np.int64)
    length = pk["len"].to_numpy(np.int64)
    frame = pk["frame"].to_numpy(np.int64)
    ts = pk["ts_ns"].to_numpy(np.int64)
    conn = pk["conn"].to_numpy(np.int64)
    side = _sides(pk)
    from_server = (side & 1).astype(bool)
    fin = (flags & F.FIN) != 0
    rst = (flags & F.RST) != 0
    syn = (flags & F.SYN) != 0
    ack = (flags & F.ACK) != 0
    del flags
    data = length > 0
    retrans = retransmitted(pk)
    fresh = data & ~retrans
    big = np.iinfo(np.int64).max

    # first FIN / RST per side and overall
    for name, mask in (("fin", fin), ("rst", rst)):
        rows = _first_rows_per(side, mask, 2 * n_conn)
        for s, label in enumerate(SIDES):
            fl[f"{name}_frame_{label}"] = _take(frame, rows[s::2])
            fl[f"{name}_ts_ns_{label}"] = _take(ts, rows[s::2])
        first = _first_rows_per(conn, mask, n_conn)
        by = np.where(first >= 0, (~pk["from_client"].to_numpy(bool)).astype(np.int64)[np.maximum(first, 0)] if len(pk) else -1, -1)
        fl[f"first_{name}_by"] = _side_names(by)
        fl[f"first_{name}_frame"] = _take(frame, first)
        fl[f"first_{name}_ts_ns"] = _take(ts, first)

    # data after the peer's FIN
    fin_rows = _first_rows_per(side, fin, 2 * n_conn)
    fin_frame_of_side = np.where(fin_rows >= 0, frame[np.maximum(fin_rows, 0)] if len(pk) else big, big)
    peer_fin_frame = fin_frame_of_side[side ^ 1] if len(pk) else np.zeros(0, np.int64)
    after_peer_fin = frame > peer_fin_frame
    before_peer_fin = ~after_peer_fin
    del peer_fin_frame
    late = data & after_peer_fin
    late_first = _first_rows_per(conn, late, n_conn)
    late_side = np.where(late_first >= 0, side[np.maximum(late_first, 0)] % 2 if len(pk) else -1, -1)
    fl["data_after_fin_by"] = _side_names(late_side)
    fl["data_after_fin_frame"] = _take(frame, late_first)
    fl["data_after_fin_ts_ns"] = _take(ts, late_first)
    late_bytes = np.bincount(side[fresh & after_peer_fin], weights=length[fresh & after_peer_fin], minlength=2 * n_conn)
    early_bytes = np.bincount(side[data & before_peer_fin], weights=length[data & before_peer_fin], minlength=2 * n_conn)
    for s, label in enumerate(SIDES):
        fl[f"bytes_after_peer_fin_{label}"] = late_bytes[s::2].astype(np.int64)
        fl[f"bytes_before_peer_fin_{label}"] = early_bytes[s::2].astype(np.int64)

    # the FIN sender's RST answering that data
    late_frame_per_conn = np.where(late_first >= 0, frame[np.maximum(late_first, 0)] if len(pk) else big, big)
    fin_sender_side = np.where(late_side >= 0, 1 - late_side, -1)  # per conn: side index of the FIN sender
    is_fin_sender = from_server == fin_sender_side[conn] if len(pk) else np.zeros(0, bool)
    after_late = frame > late_frame_per_conn[conn] if len(pk) else np.zeros(0, bool)
    answer = rst & is_fin_sender & after_late
    answer_first = _first_rows_per(conn, answer, n_conn)
    fl["rst_answer_frame"] = _take(frame, answer_first)
    fl["rst_answer_ts_ns"] = _take(ts, answer_first)
    fl["rst_answer_delay_ns"] = fl["rst_answer_ts_ns"] - fl["data_after_fin_ts_ns"]

    # data lost after the first RST
    rst_first = _first_rows_per(conn, rst, n_conn)
    rst_frame_conn = np.where(rst_first >= 0, frame[np.maximum(rst_first, 0)] if len(pk) else big, big)
    rst_side_conn = np.where(rst_first >= 0, side[np.maximum(rst_first, 0)] % 2 if len(pk) else -1, -1)
    after_rst = frame > rst_frame_conn[conn] if len(pk) else np.zeros(0, bool)
    other_side = from_server != rst_side_conn[conn] if len(pk) else np.zeros(0, bool)
    lost = data & after_rst & other_side
    fl["lost_after_rst_bytes"] = np.bincount(conn[lost], weights=length[lost], minlength=n_conn).astype(np.int64)
    fl["lost_after_rst_frame"] = _take(frame, _first_rows_per(conn, lost, n_conn))
    upto_rst = ~after_rst
    seq = pk["seq"].to_numpy(np.int64)
    ack_rel = pk["ack"].to_numpy(np.int64, na_value=-1)
    seq_end = seq + length
    pe = _max_per(conn, seq_end, data & upto_rst & other_side, n_conn)
    sa = _max_per(conn, ack_rel, ack & upto_rst & ~other_side & (ack_rel >= 0), n_conn)
    unacked = np.where((rst_first >= 0) & (sa >= 0), np.maximum(pe - sa, 0), -1)
    fl["unacked_at_rst_bytes"] = pd.array(unacked, dtype="Int64")
    fl.loc[unacked < 0, "unacked_at_rst_bytes"] = pd.NA

    # half-close: the FIN sender acknowledges the peer's later data
    late_end = _max_per(conn, seq_end, late, n_conn)
    del seq_end
    acks_it = ack & ~rst & is_fin_sender & after_late & (ack_rel >= late_end[conn]) if len(pk) else np.zeros(0, bool)
    del ack_rel
    hc_first = _first_rows_per(conn, acks_it, n_conn)
    fl["half_close_by"] = _side_names(np.where(hc_first >= 0, fin_sender_side, -1))
    fl["half_close_frame"] = _take(frame, hc_first)

    # history and conn_state
    fl["history"] = pd.array(histories(pk, n_conn, retrans), dtype="string")
    booleans = pd.DataFrame({
        "c_syn": _any(conn, syn & ~ack & ~from_server, n_conn),
        "s_synack": _any(conn, syn & ack & from_server, n_conn),
        "c_fin": fl["fin_frame_client"].notna().to_numpy(),
        "s_fin": fl["fin_frame_server"].notna().to_numpy(),
        "c_rst": fl["rst_frame_client"].notna().to_numpy(),
        "s_rst": fl["rst_frame_server"].notna().to_numpy(),
        "c_rst_first": (fl["first_rst_by"] == "client").fillna(False).to_numpy(bool),
        "s_any": _any(conn, from_server, n_conn),
    })
    fl["conn_state"] = pd.array(conn_states(booleans), dtype="string")
    return fl


def _any(conn: np.ndarray, mask: np.ndarray, n_conn: int) -> np.ndarray:
    return np.bincount(conn[mask], minlength=n_conn) > 0
