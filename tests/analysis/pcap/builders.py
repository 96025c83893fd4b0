"""Literal capture bytes for tests: pcap/pcapng containers and the headers inside.

Small and explicit on purpose: each builder writes the fields as the RFC /
format draft lays them out, so a test reads like the packet it describes.
"""

from __future__ import annotations

import struct

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def tcp(sport=40000, dport=80, seq=1000, ack=0, flags=TCP_SYN, win=65535, options=b"", payload=b"") -> bytes:
    doff = (20 + len(options)) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, doff << 4, flags, win, 0, 0) + options + payload


def ipv4(payload: bytes, src=b"\x0a\x00\x00\x01", dst=b"\x0a\x00\x00\x02", proto=6, options=b"", total_len=None, frag=0x4000) -> bytes:
    ihl = (20 + len(options)) // 4
    total = 20 + len(options) + len(payload) if total_len is None else total_len
    return struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, 1, frag, 64, proto, 0, src, dst) + options + payload


def ipv6(payload: bytes, src=bytes(15) + b"\x01", dst=bytes(15) + b"\x02", nh=6, ext: list[tuple[int, bytes]] = (), plen=None) -> bytes:
    """`ext`: (this header's type, its bytes) in order; nh is the protocol after the last one."""
    chain = b""
    types = [t for t, _ in ext] + [nh]
    for i, (_, body) in enumerate(ext):
        chain += bytes([types[i + 1]]) + body[1:]
    first = types[0]
    length = len(chain) + len(payload) if plen is None else plen
    return struct.pack("!IHBB16s16s", 0x60000000, length, first, 64, src, dst) + chain + payload


def ext_generic(length_units: int = 0) -> bytes:
    """Hop-by-hop / routing / destination options: (len + 1) * 8 bytes (next-header byte filled by ipv6())."""
    return bytes([0, length_units]) + bytes(6 + 8 * length_units)


def ext_fragment(offset: int = 0, more: bool = False) -> bytes:
    return bytes([0, 0]) + struct.pack("!HI", (offset << 3) | int(more), 7)


def ext_ah(length_words: int = 4) -> bytes:
    """IPv6 Authentication Header: (len + 2) * 4 bytes (next-header byte filled by ipv6())."""
    return bytes([0, length_words]) + bytes((length_words + 2) * 4 - 2)


def ether(payload: bytes, ethertype=0x0800, vlans: tuple[int, ...] = (), tpids: tuple[int, ...] | None = None) -> bytes:
    """Ethernet II; `vlans` outer first, each tag with its TPID (802.1Q 0x8100 unless `tpids` says)."""
    types = list(tpids or (0x8100,) * len(vlans)) + [ethertype]
    out = b"\xaa" * 6 + b"\xbb" * 6 + struct.pack("!H", types[0])
    for i, vid in enumerate(vlans):
        out += struct.pack("!HH", vid, types[i + 1])
    return out + payload


def sll(payload: bytes, proto=0x0800) -> bytes:
    return struct.pack("!HHH8sH", 0, 1, 6, b"\xcc" * 8, proto) + payload


def sll2(payload: bytes, proto=0x0800) -> bytes:
    return struct.pack("!HHIHBB8s", proto, 0, 1, 1, 0, 6, b"\xcc" * 8) + payload


def null(payload: bytes, family=2, order="<") -> bytes:
    return struct.pack(order + "I", family) + payload


# --- containers ----------------------------------------------------------------


def pcap(records: list[tuple[int, int, bytes] | tuple[int, int, bytes, int]], linktype=1, order="<", nano=False, snaplen=262144) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)
    for rec in records:
        sec, frac, data = rec[:3]
        origlen = rec[3] if len(rec) > 3 else len(data)
        out += struct.pack(order + "IIII", sec, frac, len(data), origlen) + data
    return out


def _block(btype: int, body: bytes, order: str) -> bytes:
    body += bytes(-len(body) % 4)
    total = len(body) + 12
    return struct.pack(order + "II", btype, total) + body + struct.pack(order + "I", total)


def option(code: int, value: bytes, order="<") -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + bytes(-len(value) % 4)


def shb(order="<", options=b"") -> bytes:
    body = struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1) + options
    return _block(0x0A0D0D0A, body, order)


def idb(linktype=1, snaplen=0, tsresol: int | None = None, tsoffset: int | None = None, order="<") -> bytes:
    opts = b""
    if tsresol is not None:
        opts += option(9, bytes([tsresol]), order)
    if tsoffset is not None:
        opts += option(14, struct.pack(order + "q", tsoffset), order)
    if opts:
        opts += option(0, b"", order)
    return _block(1, struct.pack(order + "HHI", linktype, 0, snaplen) + opts, order)


def epb(iface: int, ticks: int, data: bytes, origlen=None, order="<", options=b"") -> bytes:
    """Enhanced Packet Block; ``options``: option() bytes after the (padded) packet, e.g. a comment (code 1)."""
    body = struct.pack(order + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data) if origlen is None else origlen) + data
    if options:
        body += bytes(-len(data) % 4) + options + option(0, b"", order)
    return _block(6, body, order)


def spb(data: bytes, origlen=None, order="<") -> bytes:
    return _block(3, struct.pack(order + "I", len(data) if origlen is None else origlen) + data, order)


def opb(iface: int, ticks: int, data: bytes, order="<") -> bytes:
    body = struct.pack(order + "HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)) + data
    return _block(2, body, order)


def nrb(order="<") -> bytes:
    return _block(4, struct.pack(order + "HH", 0, 0), order)


def block(btype: int, body: bytes, order="<") -> bytes:
    """Any block: type, total length, body (padded to 4), total length again."""
    return _block(btype, body, order)


def custom_block(data=b"vendor data", copy=True, pen=32473, order="<") -> bytes:
    """Custom Block (0x00000BAD, or 0x40000BAD when it must not be copied): a Private Enterprise Number, then data."""
    return _block(0x00000BAD if copy else 0x40000BAD, struct.pack(order + "I", pen) + data, order)


def journal_block(entry=b"__REALTIME_TIMESTAMP=1700000000000000\nMESSAGE=hello\n", order="<") -> bytes:
    """systemd Journal Export Block: one journal entry in export format."""
    return _block(9, entry, order)


def sysdig_event_block(version=1, order="<") -> bytes:
    """sysdig event block (0x204; version 2: 0x216): cpu, timestamp, thread, length, type (v2: + nparams)."""
    header = struct.pack(order + "HQQIH", 0, 1, 2, 3, 4)
    return _block(0x204, header, order) if version == 1 else _block(0x216, header + struct.pack(order + "I", 0), order)


def pcapng_file(frames: list[bytes], linktype=1, order="<") -> bytes:
    """One section, one interface (microseconds), one EPB per frame at t = 1 s, 2 s, ..."""
    return shb(order) + idb(linktype, order=order) + b"".join(epb(0, (i + 1) * 10**6, f, order=order) for i, f in enumerate(frames))
