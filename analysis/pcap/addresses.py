"""IP address text, as tshark prints it, built once per distinct address.

IPv6 follows RFC 5952 like glibc's inet_ntop (which tshark uses): longest
run of two or more zero groups becomes '::' (first run on a tie), lower-case
hex, and the last 32 bits in dotted form for IPv4-mapped (::ffff:a.b.c.d)
and IPv4-compatible (::a.b.c.d, when the first 96 bits are zero and the
address is not ::/112) addresses.

Callers factorize raw addresses first, format the uniques, and map back, so
no per-packet Python string work happens on big files.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def format_ipv4(packed: bytes) -> str:
    return "%d.%d.%d.%d" % tuple(packed[:4])


def format_ipv6(packed: bytes) -> str:
    words = [int.from_bytes(packed[i : i + 2], "big") for i in range(0, 16, 2)]
    best_base, best_len, base, length = -1, 0, -1, 0
    for i, word in enumerate(words):
        if word == 0:
            if base < 0:
                base, length = i, 1
            else:
                length += 1
            if length > best_len:
                best_base, best_len = base, length
        else:
            base, length = -1, 0
    if best_len < 2:
        best_base, best_len = -1, 0
    out: list[str] = []
    i = 0
    while i < 8:
        if i == best_base:
            out.append(":" if i == 0 else "")
            i += best_len
            if i == 8:
                out.append("")
            continue
        embedded_v4 = i == 6 and best_base == 0 and (best_len == 6 or (best_len == 5 and words[5] == 0xFFFF))
        if embedded_v4:
            out.append(format_ipv4(packed[12:16]))
            break
        out.append("%x" % words[i])
        i += 1
    text = ":".join(out)
    return text


def address_strings(version: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Text for each row. `raw` is (n, 16) uint8: IPv4 in the first 4 bytes, rest zero."""
    n = len(version)
    if n == 0:
        return np.empty(0, dtype=object)
    words = np.ascontiguousarray(raw).view(np.uint64)  # (n, 2)
    # Mix the IP version into the key so an IPv4 address never meets an IPv6 one with the same bytes.
    hi = words[:, 0] ^ (version.astype(np.uint64) << np.uint64(56)) if version.dtype != np.uint64 else words[:, 0]
    codes_hi, _ = pd.factorize(hi)
    codes_lo, _ = pd.factorize(words[:, 1])
    joint = codes_hi.astype(np.int64) * (int(codes_lo.max()) + 1) + codes_lo
    codes, uniques = pd.factorize(joint)
    first_row = np.zeros(len(uniques), dtype=np.int64)
    first_row[codes[::-1]] = np.arange(n - 1, -1, -1)  # any representative row per unique address
    texts = np.empty(len(uniques), dtype=object)
    for k, row in enumerate(first_row):
        packed = raw[row].tobytes()
        texts[k] = format_ipv4(packed) if version[row] == 4 else format_ipv6(packed)
    return texts[codes]


class AddressBook:
    """Distinct addresses seen so far -> small int codes, and their text once each.

    Rows keep an int32 code instead of 16 raw bytes; the text column is built
    at the end with one pyarrow take over the distinct texts.
    """

    def __init__(self) -> None:
        self.texts: list[str] = []
        self._index: dict[bytes, int] = {}

    def codes(self, version: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """int32 code per row of (version, raw (n, 16) uint8)."""
        n = len(version)
        if n == 0:
            return np.empty(0, dtype=np.int32)
        words = np.ascontiguousarray(raw).view(np.uint64)
        if (version == 4).all():
            local, _ = pd.factorize(words[:, 0])
        else:
            hi, _ = pd.factorize(words[:, 0] ^ (version.astype(np.uint64) << np.uint64(56)))
            lo, _ = pd.factorize(words[:, 1])
            local, _ = pd.factorize(hi.astype(np.int64) * (int(lo.max()) + 1) + lo)
        count = int(local.max()) + 1
        first_row = np.empty(count, dtype=np.int64)
        first_row[local[::-1]] = np.arange(n - 1, -1, -1)
        mapping = np.empty(count, dtype=np.int32)
        index, texts = self._index, self.texts
        for k, row in enumerate(first_row.tolist()):
            v = int(version[row])
            key = bytes((v,)) + raw[row].tobytes()
            code = index.get(key)
            if code is None:
                code = index[key] = len(texts)
                texts.append(format_ipv4(key[1:5]) if v == 4 else format_ipv6(key[1:]))
            mapping[k] = code
        return mapping[local]

    def column(self, codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
        import pyarrow as pa

        return pd.array(pa.array(self.texts, pa.string()).take(pa.array(codes)), dtype="string")
