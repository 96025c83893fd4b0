"""TCP flag bits, their tcpdump names, and what kind of segment a packet is.

Everything here is a table; the functions only apply the tables to whole
numpy arrays (no per-packet Python).

tcpdump prints the set flags in the order of its ``tcp_flag_values`` table
(print-tcp.c): F S R P . U E W e, with ACK written as ``.``; a segment with
no flag set prints as ``none``. RFC 9293 section 3.1 defines the bits; NS/AE
(bit 8) is RFC 3540 / AccECN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.schema import PacketKind


@dataclass(frozen=True)
class Flag:
    name: str
    bit: int
    letter: str  # tcpdump's letter


#: In tcpdump's printing order (not bit order).
FLAGS: tuple[Flag, ...] = (
    Flag("FIN", 0x01, "F"),
    Flag("SYN", 0x02, "S"),
    Flag("RST", 0x04, "R"),
    Flag("PSH", 0x08, "P"),
    Flag("ACK", 0x10, "."),
    Flag("URG", 0x20, "U"),
    Flag("ECE", 0x40, "E"),
    Flag("CWR", 0x80, "W"),
    Flag("AE", 0x100, "e"),
)
BIT = {f.name: f.bit for f in FLAGS}
FIN, SYN, RST, PSH, ACK = (BIT[n] for n in ("FIN", "SYN", "RST", "PSH", "ACK"))
_ALL_BITS = 0x1FF


def tcpdump_name(bits: int) -> str:
    """tcpdump's rendering of one flag value, e.g. 0x12 -> 'S.', 0x19 -> 'FP.'."""
    text = "".join(f.letter for f in FLAGS if bits & f.bit)
    return text or "none"


#: Every 9-bit flag value -> its tcpdump name (index with the flag integer).
TCPDUMP_NAMES: np.ndarray = np.array([tcpdump_name(v) for v in range(_ALL_BITS + 1)], dtype=object)


def tcpdump_names(flags: np.ndarray) -> np.ndarray:
    """Vectorised :func:`tcpdump_name` over an integer array."""
    return TCPDUMP_NAMES[np.asarray(flags, dtype=np.int64) & _ALL_BITS]


@dataclass(frozen=True)
class KindRule:
    """A packet is ``kind`` when all ``all_set`` bits are set, none of ``none_set``, and the payload test holds."""

    kind: PacketKind
    all_set: int
    none_set: int = 0
    payload: bool | None = None  # True: len > 0; False: len == 0; None: either


#: Most significant first; the first matching rule names the packet.
#: RST wins over everything (a RST with payload is still a RST), then FIN
#: (a FIN riding on data is a FIN), then SYN/SYN-ACK, then data, then ACK.
#: A segment matching none (e.g. no flags at all) is called ACK.
KIND_RULES: tuple[KindRule, ...] = (
    KindRule(PacketKind.RST, RST),
    KindRule(PacketKind.FIN, FIN),
    KindRule(PacketKind.SYN_ACK, SYN | ACK),
    KindRule(PacketKind.SYN, SYN),
    KindRule(PacketKind.DATA, 0, payload=True),
    KindRule(PacketKind.ACK, 0),
)


#: The categories of :func:`packet_kinds`' result, in PacketKind order.
KIND_NAMES: list[str] = [k.value for k in PacketKind]


def _rule_codes(flags: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Category code (index into KIND_NAMES) of every packet: the first matching rule of KIND_RULES."""
    rule_codes = np.array([KIND_NAMES.index(r.kind.value) for r in KIND_RULES] + [KIND_NAMES.index(PacketKind.ACK.value)], np.int8)
    code = np.full(len(flags), len(KIND_RULES), dtype=np.int8)
    for index in range(len(KIND_RULES) - 1, -1, -1):  # least significant first, so the first rule wins
        rule = KIND_RULES[index]
        cond = (flags & rule.all_set) == rule.all_set
        if rule.none_set:
            cond &= (flags & rule.none_set) == 0
        if rule.payload is True:
            cond &= length > 0
        elif rule.payload is False:
            cond &= length == 0
        code[cond] = index
    return rule_codes[code]


#: The rules applied once to every (flag value, payload or not) pair, at index ``flags * 2 + (len > 0)``:
#: classifying a million packets is then one table look-up (lengths are never negative, so len > 0 or len == 0).
_KIND_CODE_TABLE: np.ndarray = _rule_codes(np.arange(2 * (_ALL_BITS + 1)) >> 1, np.arange(2 * (_ALL_BITS + 1)) & 1)


def packet_kinds(flags: np.ndarray, length: np.ndarray) -> pd.Categorical:
    """Kind (PacketKind values, as a Categorical over KIND_NAMES) of every packet, from the rule table."""
    index = np.bitwise_and(flags, _ALL_BITS, dtype=np.int32)  # the rules test no other bit
    index <<= 1
    index += np.asarray(length) > 0
    return pd.Categorical.from_codes(_KIND_CODE_TABLE[index], categories=KIND_NAMES, validate=False)
