"""Did the side that reset stop reading first? Its advertised window, up to its RST, a batch at a time.

A receiver that stops reading lets its receive buffer fill; its kernel then
advertises a window of 0 (RFC 9293 3.8.6.2, "zero window"), and keeps doing
so until the application reads. A RST that follows a run of zero windows
comes from an application that had stopped reading (a download aborted
after the client gave up on it); the raw window field is 0 whatever the
window scale, so no scaling is needed to tell.

The state (analysis.tcp.state) keeps, per direction, where its trailing run
of zero windows began (``zero_window_frame``/``_ts``; -1 while its last
window is open), over the packets before the connection's first RST (SYNs
and RSTs aside: their windows say nothing about reading). A batch whose
last such packet is open clears it; one that ends in zeros after an open
window starts a new run; one of zeros only continues the carried run.
analysis.tcp.finish reports the RST sender's.
"""

from __future__ import annotations

import numpy as np

from analysis.tcp import flags as F
from analysis.tcp.facts import NEVER, BatchRows, first_row_per, first_rst, max_per
from analysis.tcp.state import States


def update(states: States, rows: BatchRows) -> None:
    """Fold one batch's windows into ``states`` (row i is segment i), after analysis.tcp.facts.update (which merged
    the batch's RSTs)."""
    n_sides = 2 * len(states)
    rst_frame, _ = first_rst(states)
    counted = ((rows.flags & (F.SYN | F.RST)) == 0) & (rows.frame < np.where(rst_frame >= 0, rst_frame, NEVER)[rows.seg])
    picked = np.flatnonzero(counted)
    side, zero = rows.side[picked], rows.win[picked] == 0
    last = max_per(side, picked, n_sides)
    last_open = max_per(side[~zero], picked[~zero], n_sides)
    run = zero & (picked > last_open[side])
    start = first_row_per(side[run], picked[run], n_sides)
    for name, values in (("zero_window_frame", rows.frame), ("zero_window_ts", rows.ts)):
        carried = states[name].reshape(-1)
        batch = np.where(start >= 0, values[np.maximum(start, 0)], -1)
        merged = np.select([last < 0, last_open >= last, last_open >= 0, carried >= 0], [carried, -1, batch, carried], batch)
        states[name] = merged.reshape(states[name].shape)
