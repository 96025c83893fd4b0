"""Did the side that reset stop reading first? Its advertised window, up to its RST, on the whole packet table
(the code before streaming; analysis.tcp.windows folds it a batch at a time).

Why a zero window matters: analysis.tcp.windows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.tcp import flags as F


def zero_window_before_rst(pk: pd.DataFrame, rst_rows: np.ndarray, rst_side: np.ndarray) -> dict[str, pd.arrays.IntegerArray]:
    """Per connection, where the RST sender's window went to 0 for good before its first RST.

    ``rst_rows``: per connection, the packet row of its first RST (-1: none);
    ``rst_side``: who sent it (0 client, 1 server). The columns
    ``zero_window_frame`` / ``zero_window_ts_ns`` hold the first packet of the
    trailing run of zero windows the sender advertised before that RST; null
    when its last window before the RST was not 0 (or there is no RST).
    """
    n_conn = len(rst_rows)
    conn = pk["conn"].to_numpy(np.int64)
    flags = pk["flags"].to_numpy()
    frame = pk["frame"].to_numpy(np.int64)
    rst_frame = np.where(rst_rows >= 0, frame[np.maximum(rst_rows, 0)], -1) if len(frame) else np.full(n_conn, -1)
    from_server = ~pk["from_client"].to_numpy(bool)
    before = (rst_frame[conn] >= 0) & (frame < rst_frame[conn]) & (from_server == (rst_side[conn] == 1)) \
        & ((flags & (F.SYN | F.RST)) == 0)
    rows = np.flatnonzero(before)
    zero = pk["win"].to_numpy()[rows] == 0
    last = np.full(n_conn, -1, dtype=np.int64)
    np.maximum.at(last, conn[rows], rows)
    last_open = np.full(n_conn, -1, dtype=np.int64)
    np.maximum.at(last_open, conn[rows[~zero]], rows[~zero])
    ends_closed = (last >= 0) & (last > last_open)
    run = rows[zero & (rows > last_open[conn[rows]])]
    start = np.full(n_conn, len(frame), dtype=np.int64)
    np.minimum.at(start, conn[run], run)
    start = np.where(ends_closed, start, -1)
    ts = pk["ts_ns"].to_numpy(np.int64)
    safe = np.maximum(start, 0)
    return {
        "zero_window_frame": pd.arrays.IntegerArray(frame[safe] if len(frame) else np.zeros(n_conn, np.int64), start < 0),
        "zero_window_ts_ns": pd.arrays.IntegerArray(ts[safe] if len(ts) else np.zeros(n_conn, np.int64), start < 0),
    }
