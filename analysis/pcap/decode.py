"""Header decoding: a RecordBatch -> TCP columns, no per-packet Python.

Two implementations of the same rules: csrc/decode.c's decode_tcp (C, record by
record; used when built) and decode_numpy below, the reference and the
fallback, which the tests hold the C code to. In decode_numpy each step
works on all records of a batch at once: compute where a header
starts, check it lies inside the captured bytes (offset + width <= the
record's caplen end), gather the header bytes with numpy fancy indexing,
and keep the rows that pass. Rules (shared with the scapy engine):
- link layer per linktypes.LINKTYPES; VLAN tags walked up to MAX_VLAN_DEPTH;
- IPv4 (RFC 791): IHL >= 5 and captured; length = total length, or the
  wire length when it is 0 (TSO, as Wireshark); fragments (MF or offset) are
  not TCP rows (tshark shows them only after reassembly);
- IPv6 (RFC 8200): hop-by-hop, routing, destination options, AH and
  fragment headers are walked (at most MAX_IPV6_EXT); a fragment is not a TCP row;
- TCP (RFC 9293): the 20-byte fixed header must be captured, else the packet
  is counted as cut; data offset >= 5 and within the IP payload;
  len = IP payload - data offset * 4 (tshark tcp.len);
  truncated = the capture ends before the TCP header + payload does.
Records beyond the limits (more VLAN tags or IPv6 extension headers than
walked, a TCP header length out of bounds) are not listed, but counted by
kind (BEYOND_LIMITS) and named in the read's warnings, in every engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .linktypes import (
    AF_IPV4,
    AF_IPV6,
    ETHERTYPE_IPV4,
    ETHERTYPE_IPV6,
    LINKTYPES,
    MAX_VLAN_DEPTH,
    VLAN_ETHERTYPES,
    L3Selector,
    linktype_name,
)
from .scan import RecordBatch, gather

IPV6_EXT_GENERIC = (0, 43, 60)  # hop-by-hop, routing, destination options: (len + 1) * 8 bytes
IPV6_EXT_FRAGMENT = 44
IPV6_EXT_AH = 51  # (len + 2) * 4 bytes
MAX_IPV6_EXT = 8
IPPROTO_TCP = 6
VLAN_BITS = 12

#: Records the rules above stop on at a documented limit: not listed, counted per kind (Decoded.beyond_limits,
#: in this order in csrc/decode.c's decode_tcp), and each kind that occurs named in the read's warnings.
BEYOND_LIMITS: dict[str, str] = {
    "vlan_depth": f"{{n}} records have more than {MAX_VLAN_DEPTH} stacked VLAN tags (the reader's limit): not decoded, not listed",
    "ipv6_extensions": f"{{n}} IPv6 packets have more than {MAX_IPV6_EXT} extension headers (the reader's limit): "
                       "not decoded, not listed",
    "tcp_header_length": "{n} TCP segments have a header length below 20 bytes or past the IP payload: not listed",
}


def limit_warnings(counts: dict[str, int]) -> list[str]:
    """The warnings for BEYOND_LIMITS counts (kinds that did not occur say nothing)."""
    return [BEYOND_LIMITS[kind].format(n=n) for kind, n in counts.items() if n]

try:
    from ._native import decode_tcp as _decode_tcp_c
except ImportError:  # not built (setup.py): decode_numpy does it, about 0.2 s slower per million packets
    _decode_tcp_c = None

#: L3Selector -> its code in csrc/decode.c (enum SEL_...)
_SELECTOR_CODES = {L3Selector.ETHERTYPE: 0, L3Selector.AF_HOST: 1, L3Selector.AF_BIG: 2, L3Selector.IP_VERSION: 3,
                   L3Selector.IPV4_ONLY: 4, L3Selector.IPV6_ONLY: 5}
#: LINKTYPES as the rows csrc/decode.c reads: (linktype, header_len, selector code, proto_at), int32 each
_LINK_TABLE = np.array([(lt, spec.header_len, _SELECTOR_CODES[spec.selector], spec.proto_at) for lt, spec in LINKTYPES.items()],
                       dtype=np.int32)

@dataclass
class Decoded:
    """TCP rows of one batch, addresses still raw (16 bytes, IPv4 in the first 4)."""

    frame: np.ndarray
    ts_ns: np.ndarray
    iface: np.ndarray
    vlan_key: np.ndarray  # int64: depth in the low 4 bits, then 12 bits per tag, outer first
    ip_version: np.ndarray
    src: np.ndarray  # (n, 16) uint8
    dst: np.ndarray
    sport: np.ndarray
    dport: np.ndarray
    flags: np.ndarray
    seq_raw: np.ndarray
    ack_raw: np.ndarray
    len: np.ndarray
    win: np.ndarray
    truncated: np.ndarray
    non_tcp: int = 0  # includes header_cut and beyond_limits
    header_cut: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    beyond_limits: dict[str, int] = field(default_factory=dict)  # BEYOND_LIMITS kind -> records


def _u16(data: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return (data[pos].astype(np.int64) << 8) | data[pos + 1]


def _link(batch: RecordBatch, rows: np.ndarray, linktype: int):
    """(IP version 0/4/6, offset of the IP header, vlan key, more VLAN tags than walked) for `rows` of one link type."""
    spec = LINKTYPES[linktype]
    data = batch.data
    off = batch.data_off[rows]
    end = off + batch.caplen[rows]
    n = len(rows)
    version = np.zeros(n, dtype=np.int8)
    vlan_key = np.zeros(n, dtype=np.int64)
    deep = np.zeros(n, dtype=bool)
    ok = end >= off + spec.header_len
    l3 = off + spec.header_len
    safe = np.where(ok, off, 0)
    if spec.selector is L3Selector.ETHERTYPE:
        ethertype = np.where(ok, _u16(data, safe + spec.proto_at), -1)
        vlan_types = np.array(VLAN_ETHERTYPES)
        for depth in range(MAX_VLAN_DEPTH):
            tagged = np.isin(ethertype, vlan_types) & (l3 + 4 <= end)
            if not tagged.any():
                break
            at = l3[tagged]
            vlan_key[tagged] += 1 + ((_u16(data, at) & 0xFFF) << (4 + VLAN_BITS * depth))
            ethertype[tagged] = _u16(data, at + 2)
            l3[tagged] += 4
        version[ethertype == ETHERTYPE_IPV4] = 4
        version[ethertype == ETHERTYPE_IPV6] = 6
        deep = ok & np.isin(ethertype, vlan_types) & ((vlan_key & 0xF) == MAX_VLAN_DEPTH)  # a tag past the last walked
    elif spec.selector in (L3Selector.AF_HOST, L3Selector.AF_BIG):
        raw = gather(data, safe, 4)
        family = raw.view("<u4" if spec.selector is L3Selector.AF_HOST else ">u4")[:, 0].astype(np.int64)
        swapped = raw.view(">u4" if spec.selector is L3Selector.AF_HOST else "<u4")[:, 0].astype(np.int64)
        family = np.where(family & 0xFFFF0000, swapped, family)
        version[np.isin(family, AF_IPV4 + (ETHERTYPE_IPV4,))] = 4
        version[np.isin(family, AF_IPV6 + (ETHERTYPE_IPV6,))] = 6
    else:
        nibble = np.where(end > off, data[safe] >> 4, 0)
        wanted = {L3Selector.IPV4_ONLY: (4,), L3Selector.IPV6_ONLY: (6,), L3Selector.IP_VERSION: (4, 6)}[spec.selector]
        version = np.where(np.isin(nibble, wanted), nibble, 0).astype(np.int8)
    version[~ok] = 0
    return version, l3, vlan_key, deep


def _ipv4(data, l3, end, wire_after):
    """Rows that carry TCP over IPv4: (keep mask, src, dst, tcp offset, IP payload length, beyond a limit: never)."""
    n = len(l3)
    keep = l3 + 20 <= end
    h = gather(data, np.where(keep, l3, 0), 20)
    ihl = (h[:, 0] & 0x0F).astype(np.int64) * 4
    total_field = (h[:, 2].astype(np.int64) << 8) | h[:, 3]
    total = np.where(total_field == 0, wire_after, np.minimum(total_field, wire_after))  # 0: TSO
    more_fragments = (h[:, 6] & 0x20) != 0
    frag_offset = ((h[:, 6].astype(np.int64) & 0x1F) << 8) | h[:, 7]
    keep &= (h[:, 0] >> 4 == 4) & (ihl >= 20) & (l3 + ihl <= end) & (total >= ihl)
    keep &= (h[:, 9] == IPPROTO_TCP) & (frag_offset == 0) & ~more_fragments
    src = np.zeros((n, 16), dtype=np.uint8)
    dst = np.zeros((n, 16), dtype=np.uint8)
    src[:, :4] = h[:, 12:16]
    dst[:, :4] = h[:, 16:20]
    return keep, src, dst, l3 + ihl, total - ihl, np.zeros(n, dtype=bool)


def _ipv6(data, l3, end, wire_after):
    """As _ipv4, for IPv6; beyond: an extension header chain longer than MAX_IPV6_EXT."""
    keep = l3 + 40 <= end
    h = gather(data, np.where(keep, l3, 0), 40)
    plen = (h[:, 4].astype(np.int64) << 8) | h[:, 5]
    payload = np.where(plen == 0, wire_after - 40, np.minimum(plen, wire_after - 40))
    keep &= h[:, 0] >> 4 == 6
    nh = h[:, 6].astype(np.int64)
    pos = l3 + 40
    for _ in range(MAX_IPV6_EXT):
        generic = keep & (np.isin(nh, IPV6_EXT_GENERIC) | (nh == IPV6_EXT_AH))
        fragment = keep & (nh == IPV6_EXT_FRAGMENT)
        if not (generic.any() or fragment.any()):
            break
        keep &= ~(generic & (pos + 2 > end)) & ~(fragment & (pos + 8 > end))
        generic &= keep
        fragment &= keep
        at = np.where(generic | fragment, pos, 0)
        next_header = data[at].astype(np.int64)
        ext_len_field = data[at + 1].astype(np.int64)
        ext_len = np.where(nh == IPV6_EXT_AH, (ext_len_field + 2) * 4, (ext_len_field + 1) * 8)
        frag_word = _u16(data, np.where(fragment, pos + 2, 0))
        keep &= ~(fragment & (((frag_word >> 3) != 0) | ((frag_word & 1) != 0)))
        ext_len = np.where(fragment, 8, ext_len)
        step = generic | fragment
        nh = np.where(step, next_header, nh)
        pos = np.where(step, pos + ext_len, pos)
        payload = np.where(step, payload - ext_len, payload)
    deep = keep & (np.isin(nh, IPV6_EXT_GENERIC) | (nh == IPV6_EXT_AH) | (nh == IPV6_EXT_FRAGMENT))
    keep &= (nh == IPPROTO_TCP) & (payload >= 0)
    return keep, h[:, 8:24].copy(), h[:, 24:40].copy(), pos, payload, deep


def decode(batch: RecordBatch) -> Decoded:
    """The TCP rows of a batch: by csrc/decode.c's decode_tcp when it is built, else with numpy (the reference)."""
    decoded = decode_native(batch) if _decode_tcp_c is not None else decode_numpy(batch)
    if batch.frames is not None:  # both number the records first_frame, first_frame + 1, ...: take the real ones
        decoded.frame = batch.frames[decoded.frame - batch.first_frame]
    return decoded


def _skipped_link_types(batch: RecordBatch) -> tuple[dict[str, int], int]:
    """Records per unsupported link type (by name), and how many records have a supported one."""
    skipped: dict[str, int] = {}
    for lt, count in zip(*np.unique(batch.linktype, return_counts=True)):
        if int(lt) not in LINKTYPES:
            skipped[linktype_name(int(lt))] = int(count)
    return skipped, len(batch.linktype) - sum(skipped.values())


def decode_native(batch: RecordBatch) -> Decoded:
    """decode_numpy's result, decoded record by record in C (about ten times faster), in one call per batch."""
    n = len(batch.data_off)
    inputs = [np.ascontiguousarray(a, dtype=t) for a, t in ((batch.data_off, np.int64), (batch.caplen, np.int64),
                                                             (batch.origlen, np.int64), (batch.linktype, np.int32),
                                                             (batch.ts_ns, np.int64), (batch.iface, np.int32))]
    version = np.empty(n, dtype=np.int8)
    vlan_key, seq, ack, length, frame, ts_ns = (np.empty(n, dtype=np.int64) for _ in range(6))
    src, dst = np.empty((n, 16), dtype=np.uint8), np.empty((n, 16), dtype=np.uint8)
    sport, dport, flags, win, iface = (np.empty(n, dtype=np.int32) for _ in range(5))
    truncated = np.empty(n, dtype=np.bool_)
    rows, cut, unsupported, *beyond = _decode_tcp_c(batch.first_frame, batch.data, *inputs, _LINK_TABLE, version,
                                                    vlan_key, src, dst, sport, dport, flags, seq, ack, length, win,
                                                    truncated, frame, ts_ns, iface)
    skipped = _skipped_link_types(batch)[0] if unsupported else {}

    def packed(column: np.ndarray) -> np.ndarray:
        # The rows fill the front; a view keeps the whole buffer alive until the table is joined, so a
        # window of mostly other traffic (UDP, say) gives up the rest of it.
        return column[:rows] if 2 * rows >= n else column[:rows].copy()

    return Decoded(
        frame=packed(frame),
        ts_ns=packed(ts_ns),
        iface=packed(iface),
        vlan_key=packed(vlan_key),
        ip_version=packed(version),
        src=packed(src),
        dst=packed(dst),
        sport=packed(sport),
        dport=packed(dport),
        flags=packed(flags),
        seq_raw=packed(seq),
        ack_raw=packed(ack),
        len=packed(length),
        win=packed(win),
        truncated=packed(truncated),
        non_tcp=n - unsupported - rows,
        header_cut=cut,
        skipped=skipped,
        beyond_limits=dict(zip(BEYOND_LIMITS, beyond)),
    )


def decode_numpy(batch: RecordBatch) -> Decoded:
    n = len(batch.data_off)
    data = batch.data
    version = np.zeros(n, dtype=np.int8)
    l3 = np.zeros(n, dtype=np.int64)
    vlan_key = np.zeros(n, dtype=np.int64)
    vlan_deep, ext_deep = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    for lt in np.unique(batch.linktype).tolist():
        if lt in LINKTYPES:  # the others stay version 0: no row (counted by _skipped_link_types)
            rows = np.flatnonzero(batch.linktype == lt)
            version[rows], l3[rows], vlan_key[rows], vlan_deep[rows] = _link(batch, rows, lt)
    skipped, supported = _skipped_link_types(batch)
    end = batch.data_off + batch.caplen
    wire_after = np.maximum(batch.origlen, batch.caplen) - (l3 - batch.data_off)
    keep = np.zeros(n, dtype=bool)
    src = np.zeros((n, 16), dtype=np.uint8)
    dst = np.zeros((n, 16), dtype=np.uint8)
    tcp_at = np.zeros(n, dtype=np.int64)
    ip_payload = np.zeros(n, dtype=np.int64)
    for v, decoder in ((4, _ipv4), (6, _ipv6)):
        rows = np.flatnonzero(version == v)
        if len(rows):
            k, s, d, t, p, deep = decoder(data, l3[rows], end[rows], wire_after[rows])
            keep[rows], src[rows], dst[rows], tcp_at[rows], ip_payload[rows], ext_deep[rows] = k, s, d, t, p, deep
    cut = keep & (tcp_at + 20 > end)
    keep &= ~cut
    rows = np.flatnonzero(keep)
    t = gather(data, tcp_at[rows], 20)
    header = (t[:, 12] >> 4).astype(np.int64) * 4
    good = (header >= 20) & (header <= ip_payload[rows])
    beyond = dict(zip(BEYOND_LIMITS, (int(vlan_deep.sum()), int(ext_deep.sum()), int((~good).sum()))))
    rows, t, header = rows[good], t[good], header[good]
    seg_len = ip_payload[rows] - header
    words = t.view(">u2")
    longs = t.view(">u4")
    return Decoded(
        frame=batch.first_frame + rows.astype(np.int64),
        ts_ns=batch.ts_ns[rows],
        iface=batch.iface[rows],
        vlan_key=vlan_key[rows],
        ip_version=version[rows],
        src=src[rows],
        dst=dst[rows],
        sport=words[:, 0].astype(np.int32),
        dport=words[:, 1].astype(np.int32),
        flags=(((t[:, 12].astype(np.int32) & 0x0F) << 8) | t[:, 13]),
        seq_raw=longs[:, 1].astype(np.int64),
        ack_raw=longs[:, 2].astype(np.int64),
        len=seg_len,
        win=words[:, 7].astype(np.int32),
        truncated=end[rows] < tcp_at[rows] + header + seg_len,
        non_tcp=supported - len(rows),
        header_cut=int(cut.sum()),
        skipped=skipped,
        beyond_limits=beyond,
    )
