"""Where an event that is not a packet goes in a capture: on the frame it follows, with how long after.

A syscall, a kernel tracepoint or an application's log line has a time but no frame. As a packet
comment it lands on the last frame of its connection captured at or before it, and says its offset
("+140 µs after this frame"); an event that came before its connection's first frame lands on that
frame ("12 µs before this frame"). An event tied to no connection follows the capture's packets,
whichever connection they belong to. Whole columns throughout: one sort of packets and events together.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.diagnosis.explain import duration


def follows(packets: pd.DataFrame, conn: np.ndarray, ts_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each event (its ``conn``, -1 for none, and its ``ts_ns``): the frame it follows and that frame's
    time. ``packets``: the packet table (``conn``, ``frame``, ``ts_ns``); -1 where no packet can be found."""
    conn, ts_ns = np.asarray(conn, dtype=np.int64), np.asarray(ts_ns, dtype=np.int64)
    frame, frame_ts = np.full(len(conn), -1, dtype=np.int64), np.zeros(len(conn), dtype=np.int64)
    p_conn = packets["conn"].to_numpy(np.int64)
    p_frame, p_ts = packets["frame"].to_numpy(np.int64), packets["ts_ns"].to_numpy(np.int64)
    tied = conn >= 0
    for events, by_connection in ((tied, True), (~tied, False)):
        mine = np.isin(p_conn, np.unique(conn[events])) if by_connection else np.ones(len(p_conn), dtype=bool)
        if not events.any() or not mine.any():
            continue
        e_key = conn[events] if by_connection else np.zeros(int(events.sum()), np.int64)
        p_key = p_conn[mine] if by_connection else np.zeros(int(mine.sum()), np.int64)
        found = _last_before(p_key, p_ts[mine], e_key, ts_ns[events])
        ok, at = found >= 0, np.flatnonzero(events)
        frame[at[ok]] = p_frame[mine][found[ok]]
        frame_ts[at[ok]] = p_ts[mine][found[ok]]
    return frame, frame_ts


def _last_before(p_key: np.ndarray, p_ts: np.ndarray, e_key: np.ndarray, e_ts: np.ndarray) -> np.ndarray:
    """Per event, the index of the last packet with its key at or before its time, else the first after it
    (-1: none). A packet at the very time of an event comes before it."""
    n_p = len(p_ts)
    key, ts = np.concatenate([p_key, e_key]), np.concatenate([p_ts, e_ts])
    is_event = np.concatenate([np.zeros(n_p, bool), np.ones(len(e_ts), bool)])
    order = np.lexsort((is_event, ts, key))
    key, is_packet = key[order], ~is_event[order]
    position = np.arange(len(order))
    last = np.maximum.accumulate(np.where(is_packet, position, -1))
    after = np.minimum.accumulate(np.where(is_packet, position, len(order))[::-1])[::-1]
    same_last = (last >= 0) & (key[np.maximum(last, 0)] == key)
    same_after = (after < len(order)) & (key[np.minimum(after, len(order) - 1)] == key)
    chosen = np.where(same_last, last, np.where(same_after, after, -1))
    events = ~is_packet
    out = np.full(len(e_ts), -1, dtype=np.int64)
    picked = chosen[events]
    out[order[events] - n_p] = np.where(picked >= 0, order[np.maximum(picked, 0)], -1)
    return out


def offset(event_ns: int, frame_ns: int) -> str:
    """``+140 µs after this frame``, ``12 µs before this frame``, ``at this frame's time``."""
    delta = event_ns - frame_ns
    if delta > 0:
        return f"+{duration(delta)} after this frame"
    if delta < 0:
        return f"{duration(-delta)} before this frame"
    return "at this frame's time"
