"""The signals: per-connection booleans the verdict rules read, computed for every connection at once.

Each is a column of the connection table (analysis.schema.connections
documents them); nothing here decides a verdict (verdicts.py) or words a
sentence (explain.py).
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import pandas as pd

from analysis.tcp import sides


class Signal(StrEnum):
    REFUSED = "refused"  # client SYN answered by RST, no SYN-ACK (conn_state REJ)
    LATE_DATA = "late_data"  # a side sent payload after the peer's FIN (write after peer close)
    RST_ANSWERS_LATE = "rst_answers_late"  # the FIN sender answered that payload with RST
    CLIENT_ABORT = "client_abort"  # the first RST came from the client, before any FIN of its own
    SERVER_ABORT = "server_abort"  # the same for the server
    SYSCALL_ERROR = "syscall_error"  # a traced syscall failed with a connection error (not EAGAIN/EINTR)
    SYSCALL_EPIPE = "syscall_epipe"  # ... one was EPIPE
    SYSCALL_ECONNRESET = "syscall_econnreset"  # ... one was ECONNRESET
    WRITE_FAILED = "write_failed"  # ... one of them was a write
    SYSCALL_SEEN = "syscall_seen"  # strace recorded calls on this connection
    APP_SEEN = "app_seen"  # the writer's application wrote events for this connection
    APP_ERROR = "app_error"  # the application reported an error for it
    APP_ABORT = "app_abort"  # the writer's application logged that the peer had gone (it noticed)
    HALF_CLOSE = "half_close"  # the FIN sender acknowledged the peer's later payload (a working half-close)
    RESPONSE_CUT = "response_cut"  # the writer's application gave up its response, or the wire has less than it wrote
    UNANSWERED = "unanswered"  # the client sent its request and closed (FIN) first; the server sent no payload
    BOTH_FIN = "both_fin"  # FIN from both sides
    ANY_FIN = "any_fin"
    ANY_RST = "any_rst"


def compute(flows: pd.DataFrame, found: dict[str, object], writer: np.ndarray) -> dict[Signal, np.ndarray]:
    """Every signal for every connection, from the flows' close facts, the evidence :func:`evidence.find` found
    and each connection's writer (side codes)."""

    def present(column: str) -> np.ndarray:
        return flows[column].notna().to_numpy(bool)

    first_rst_by = sides.codes(flows["first_rst_by"])
    rst_frame = flows["first_rst_frame"].to_numpy(np.int64, na_value=-1)
    answered = present("rst_answer_frame")

    app_abort = pd.notna(found["app_abort_ts_ns"]).astype(bool)
    # the body the writer's application says it was to send (its abort's, else its last write's), or -1
    written = np.where(sides.codes(found["app_write_by"]) == writer, pd.Series(found["app_write_len"]).fillna(-1), -1)
    body = pd.Series(found["app_abort_len"]).fillna(pd.Series(written)).to_numpy(np.int64)
    sent = np.where(writer == sides.SERVER, flows["bytes_server"].to_numpy(np.int64), flows["bytes_client"].to_numpy(np.int64))

    def aborted(side: int, fin_column: str) -> np.ndarray:
        own_fin = flows[fin_column].to_numpy(np.int64, na_value=-1)
        return (first_rst_by == side) & ((own_fin < 0) | (own_fin > rst_frame)) & ~answered

    return {
        Signal.REFUSED: (flows["conn_state"] == "REJ").to_numpy(bool),
        Signal.LATE_DATA: present("data_after_fin_frame"),
        Signal.RST_ANSWERS_LATE: answered,
        Signal.CLIENT_ABORT: aborted(sides.CLIENT, "fin_frame_client"),
        Signal.SERVER_ABORT: aborted(sides.SERVER, "fin_frame_server"),
        Signal.SYSCALL_ERROR: pd.notna(found["syscall_error_ts_ns"]).astype(bool),
        Signal.SYSCALL_EPIPE: found["_syscall_epipe"],
        Signal.SYSCALL_ECONNRESET: found["_syscall_econnreset"],
        Signal.WRITE_FAILED: pd.notna(found["write_error_ts_ns"]).astype(bool),
        Signal.SYSCALL_SEEN: found["_seen_syscall"],
        Signal.APP_SEEN: found["_seen_app"],
        Signal.APP_ERROR: pd.notna(found["app_error_ts_ns"]).astype(bool),
        Signal.APP_ABORT: app_abort,
        Signal.HALF_CLOSE: present("half_close_frame"),
        Signal.RESPONSE_CUT: app_abort | (body > sent),
        Signal.UNANSWERED: (sides.codes(flows["first_fin_by"]) == sides.CLIENT) & (flows["bytes_client"] > 0).to_numpy(bool)
        & (flows["bytes_server"] == 0).to_numpy(bool) & ~present("first_rst_frame"),
        Signal.BOTH_FIN: present("fin_frame_client") & present("fin_frame_server"),
        Signal.ANY_FIN: present("first_fin_frame"),
        Signal.ANY_RST: present("first_rst_frame"),
    }
