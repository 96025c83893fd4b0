"""Rules 3 and 4 of analysis.tcp.flows across batches: who the client is, and sequence numbers relative to the ISNs.

Both are firsts, carried in the connection's state: the first SYN without
ACK (and its sender), the first SYN-ACK (and its receiver), the first SYN of
each direction (its sequence number is that direction's ISN). A batch uses
what is known at its end; what a later batch changes is a hazard
(analysis.tcp.state.Hazard): the roles (for the packets' sides and the id
text) and an ISN learnt after packets that needed it (``isn_pending``).
"""

from __future__ import annotations

import numpy as np

from analysis.tcp import flags as F
from analysis.tcp.facts import first_row_per, keep_first
from analysis.tcp.flows import SEQ_MOD, WELL_KNOWN_PORT_LIMIT
from analysis.tcp.state import Hazard, States

_PORTS = 65536


def update_roles(states: States, seg: np.ndarray, frame: np.ndarray, flags: np.ndarray, ep_src: np.ndarray,
                 ep_dst: np.ndarray) -> None:
    """Keep the first SYN without ACK (its sender) and the first SYN-ACK (its receiver) of each connection."""
    m = len(states)
    handshake = flags & (F.SYN | F.ACK)
    for name, bits, endpoint in (("syn", F.SYN, ep_src), ("synack", F.SYN | F.ACK, ep_dst)):
        picked = np.flatnonzero(handshake == bits)
        keep_first(states, (f"{name}_frame", f"{name}_ep"), first_row_per(seg[picked], picked, m), (frame, endpoint))


def client_endpoints(states: States, hinted: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(client endpoint, roles guessed) per connection: the SYN's sender, else the SYN-ACK's receiver, else the
    side on a well-known port, else on the lower port, else the first packet's sender. ``hinted``: the known
    final client (-1: not known)."""
    first_src, first_dst = states["first_src"], states["first_dst"]
    src_port, dst_port = first_src % _PORTS, first_dst % _PORTS
    src_wk, dst_wk = src_port < WELL_KNOWN_PORT_LIMIT, dst_port < WELL_KNOWN_PORT_LIMIT
    server_is_src = np.where(src_wk != dst_wk, src_wk, src_port < dst_port)
    guessed = np.where(server_is_src, first_dst, first_src)
    has_syn, has_synack = states["syn_frame"] >= 0, states["synack_frame"] >= 0
    client = np.where(has_syn, states["syn_ep"], np.where(has_synack, states["synack_ep"], guessed))
    if hinted is not None:
        client = np.where(hinted >= 0, hinted, client)
    return client, ~has_syn & ~has_synack


def directions(states: States, seg: np.ndarray, ep_src: np.ndarray) -> np.ndarray:
    """Per packet: 0 when its sender sent its connection's first packet, else 1."""
    return (ep_src != states["first_src"][seg]).astype(np.int64)


def relative_numbers(states: States, side: np.ndarray, flags: np.ndarray, frame: np.ndarray, seq_raw: np.ndarray,
                     ack_raw: np.ndarray, hinted: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(relative seq, relative ack or -1 without ACK) of every packet, after learning the batch's ISNs.

    ``side`` is 2 * connection + direction; ``hinted`` (connections x 2): the final ISNs when known (-1: not).
    """
    m = len(states)
    syn_rows = np.flatnonzero((flags & F.SYN) != 0)
    found = first_row_per(side[syn_rows], syn_rows, 2 * m)
    carried = states["isn"].reshape(-1)
    learnt = (carried < 0) & (found >= 0)
    pending = states["isn_pending"].reshape(-1) != 0
    late = (learnt & pending).reshape(m, 2).any(axis=1)
    states["hazard"] = states["hazard"] | np.where(late, Hazard.ISN, 0)
    isn = np.where(learnt, seq_raw[np.maximum(found, 0)], carried)
    if hinted is not None:
        isn = np.where(hinted.reshape(-1) >= 0, hinted.reshape(-1), isn)
    states["isn"] = isn.reshape(m, 2)
    own, peer = isn[side], isn[side ^ 1]
    seq = _relative(seq_raw, own)
    has_ack = (flags & F.ACK) != 0
    ack = np.where(has_ack, _relative(ack_raw, peer), -1)
    # rows that read an ISN still unknown: a later batch that learns it changes them
    reads = np.bincount(side, minlength=2 * m) > 0
    reads[np.bincount(side[has_ack] ^ 1, minlength=2 * m) > 0] = True
    states["isn_pending"] = (pending | (reads & (isn < 0))).reshape(m, 2).astype(np.int64)
    return seq, ack


def _relative(raw: np.ndarray, isn: np.ndarray) -> np.ndarray:
    """(raw - isn) modulo 2**32, as a mask (the same for negative differences too: two's complement); raw where
    the ISN is unknown (the schema's contract)."""
    out = raw.astype(np.int64, copy=True)
    out -= isn
    out &= SEQ_MOD - 1
    np.copyto(out, raw, where=isn < 0, casting="unsafe")
    return out
