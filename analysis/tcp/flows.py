"""Packet table -> connections: ids, client/server roles, relative seq/ack, byte counts.

Rules (applied to whole columns; no per-packet Python):

1. **Same connection** = same unordered pair of endpoints (ip, port). VLAN
   stacks split a pair only when one *direction* of that pair shows several
   stacks: the same 4-tuple seen untagged, on VLAN 42 and on QinQ 10/20 is
   three connections (zeek vlan-collisions), while one connection whose two
   directions ride different VLANs (c->s on 81, s->c on 80) stays one.
   Interfaces (pcapng IDB) never split a pair.
2. **Reuse**: a SYN without ACK starts a new connection on the same key when
   an earlier packet of that key had FIN or RST since the previous SYN and
   the new SYN's sequence number differs from that SYN's (a retransmitted
   SYN, same ISN, stays in its connection; tshark does the same).
3. **Roles**: the client is the sender of the first SYN (no ACK); failing
   that, the receiver of the first SYN-ACK. With neither, it is a guess
   (``role_guessed``): the server is the side on a well-known port (< 1024),
   else the lower port, else the first receiver.
4. **Relative numbers**: seq is relative to the sender's ISN (its SYN = 0),
   ack to the peer's ISN; raw when that side's SYN was not captured (the
   schema's contract). Arithmetic is modulo 2**32; a transfer of more than
   4 GiB in one direction wraps (documented limit).
5. **Ids**: ``client_ip:port>server_ip:port`` (IPv6 in brackets). When
   several connections share that text (VLAN split, reused 4-tuple), the
   later ones get ``#2``, ``#3``... in order of their first packet.

The flows table has one row per connection, indexed by ``conn`` (0..n-1, in
order of first packet), with the close facts (analysis.tcp.facts), history and
conn_state (analysis.tcp.history).

The rules hold for the whole capture, but the packets are met a batch at a
time (analysis.tcp.fold), carrying per key and per connection what the rules
need (identity.py: rule 1; reuse.py: rule 2; roles.py: rules 3 and 4), so
that the result is the whole-table one exactly. Where a later batch changes
what an earlier one assumed (a pair split by VLAN after its two directions
rode different stacks; a role or an ISN learnt after packets that depended
on it), the pass says so and is run again knowing the final answer.
This module holds the rules' shared pieces: ids as text, orders, firsts."""

from __future__ import annotations

import ipaddress

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

SEQ_MOD = 1 << 32
WELL_KNOWN_PORT_LIMIT = 1024


def endpoint_text(ip: str, port: int) -> str:
    """`ip:port`, IPv6 in brackets; v4-mapped IPv6 (::ffff:a.b.c.d) written as IPv4."""
    ip = normalise_ip(ip)
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def normalise_ip(ip: str) -> str:
    try:
        addr = ipaddress.ip_address(ip.strip("[]"))
    except ValueError:
        return ip
    if addr.version == 6 and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def flow_id(client: str, server: str) -> str:
    return f"{client}>{server}"


def host_text(ip: str) -> str:
    ip = normalise_ip(ip)
    return f"[{ip}]" if ":" in ip else ip


def stable_order(codes: np.ndarray, n_codes: int) -> np.ndarray:
    """Row indices that group equal codes (0..n_codes-1), each group in row order: ``np.argsort(codes, kind="stable")``.

    NumPy's stable sort of 16-bit integers is a radix sort, several times
    faster than its comparison sort of wider integers, so codes below 2**32
    are sorted as one or two 16-bit digits (low digit first: LSD radix sort).
    """
    if n_codes <= 1 << 16:
        return np.argsort(codes.astype(np.uint16), kind="stable")
    if n_codes <= 1 << 32:
        order = np.argsort((codes & 0xFFFF).astype(np.uint16), kind="stable")
        high_digit = (codes >> 16).astype(np.uint16)[order]
        return order[np.argsort(high_digit, kind="stable")]
    return np.argsort(codes, kind="stable")


def group_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Per row of a key-sorted array: the index of the first row of its key."""
    n = len(sorted_keys)
    is_start = np.ones(n, dtype=bool)
    if n > 1:
        np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=is_start[1:])
    if not n:
        return np.zeros(0, np.int64)
    starts = np.arange(n)
    starts[~is_start] = 0
    return np.maximum.accumulate(starts, out=starts)


def nth_in_group(codes: np.ndarray) -> np.ndarray:
    """1 for the first row of each code, 2 for the second... (row order); codes are 0..max."""
    order = stable_order(codes, int(codes.max()) + 1 if len(codes) else 0)
    group_start = group_starts(codes[order])
    nth = np.empty(len(codes), dtype=np.int64)
    nth[order] = np.arange(len(codes)) - group_start + 1
    return nth


def connection_texts(client: np.ndarray, server: np.ndarray, nth: np.ndarray,
                     addresses: np.ndarray) -> tuple[pd.array, pd.array, pd.array]:
    """:func:`arrow_connection_texts` as pandas ``string`` arrays."""
    return tuple(pd.array(texts, dtype="string") for texts in arrow_connection_texts(client, server, nth, addresses))


def arrow_connection_texts(client: np.ndarray, server: np.ndarray, nth: np.ndarray,
                           addresses: np.ndarray) -> tuple[pa.Array, pa.Array, pa.Array]:
    """``flow``, ``client`` and ``server`` text columns (rule 5) from endpoint values (address id * 65536 + port,
    ids into ``addresses``) and each connection's number among those with the same text (1: none before it).

    Built as Arrow strings (pandas' ``string`` columns are Arrow arrays): the
    texts are joined in Arrow's kernels, not one Python string at a time, and
    only once per distinct endpoint.
    """
    text = pa.large_string()  # the Arrow type pandas keeps: no conversion when wrapped

    def join(a: pa.Array, b: pa.Array, separator: str) -> pa.Array:
        return pc.binary_join_element_wise(a, b, pa.scalar(separator, text))

    hosts = pa.array([host_text(str(a)) for a in addresses], text)
    codes, values = pd.factorize(np.concatenate([client, server]))
    endpoint_texts = join(hosts.take(pa.array(values // 65536)), pc.cast(pa.array(values % 65536), text), ":")
    client_text = endpoint_texts.take(pa.array(codes[:len(client)]))
    server_text = endpoint_texts.take(pa.array(codes[len(client):]))
    flow = join(client_text, server_text, ">")
    later = nth > 1
    if later.any():
        numbered = join(flow.filter(pa.array(later)), pc.cast(pa.array(nth[later]), text), "#")
        flow = pc.replace_with_mask(flow, pa.array(later), numbered)
    return flow, client_text, server_text
