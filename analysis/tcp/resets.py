"""What a RST does to the socket that receives it: Linux's tcp_reset(), as one table.

net/ipv4/tcp_input.c, tcp_reset() (Linux 4.x to 6.x)::

    /* We want the right error as BSD sees it (and indeed as we do). */
    switch (sk->sk_state) {
    case TCP_SYN_SENT:   err = ECONNREFUSED; break;
    case TCP_CLOSE_WAIT: err = EPIPE;        break;
    case TCP_CLOSE:      return;
    default:             err = ECONNRESET;
    }
    tcp_write_queue_purge(sk);
    tcp_done_with_error(sk, err);

The error is what the next call on the socket returns (connect() for
SYN_SENT; a read or a write otherwise); after it the socket is done
(tcp_done: shut down both ways), so every later write fails with EPIPE.

Without the kernel's own record of the state (tracefs
inet_sock_set_state), the state is inferred from the packets
(:data:`INFERRED_STATE`): a RST answering a SYN (no SYN-ACK seen) finds
SYN_SENT, a RST from a side whose FIN came first finds CLOSE_WAIT, any other
ESTABLISHED.
"""

from __future__ import annotations

import numpy as np

#: the receiver's state -> the errno tcp_reset() reports (None: the RST is ignored, no error)
RESET_ERRNO: dict[str, str | None] = {"SYN_SENT": "ECONNREFUSED", "CLOSE_WAIT": "EPIPE", "CLOSE": None}
#: every other state
OTHERWISE = "ECONNRESET"
#: inferred from the packets: refused (no SYN-ACK), the sender's FIN came first, otherwise
INFERRED_STATE = {"refused": "SYN_SENT", "after_fin": "CLOSE_WAIT", "otherwise": "ESTABLISHED"}


def errno_for(state: str | None) -> str | None:
    """The errno tcp_reset() reports for a RST that finds the socket in ``state`` (None: ignored, or no state)."""
    if state is None:
        return None
    return RESET_ERRNO.get(state, OTHERWISE)


def inferred_state_codes(refused: np.ndarray, sender_fin_first: np.ndarray, has_rst: np.ndarray) -> np.ndarray:
    """Per connection, the RST receiver's state as the packets show it: an index into the values of
    :data:`INFERRED_STATE` (refused, after_fin, otherwise), -1 where there is no RST."""
    return np.where(has_rst, np.where(refused, 0, np.where(sender_fin_first, 1, 2)), -1)


def markdown_table() -> str:
    """The rule as the README shows it."""
    lines = ["| state of the socket the RST reaches | error (tcp_reset) |", "|---|---|"]
    lines += [f"| {state} | {errno or 'none: the RST is ignored'} |" for state, errno in RESET_ERRNO.items()]
    return "\n".join(lines + [f"| any other (ESTABLISHED, FIN_WAIT1, ...) | {OTHERWISE} |"])
