"""IP address text, as tshark prints it, built once per distinct address.

IPv6 follows RFC 5952 like glibc's inet_ntop (which tshark uses): longest
run of two or more zero groups becomes '::' (first run on a tie), lower-case
hex, and the last 32 bits in dotted form for IPv4-mapped (::ffff:a.b.c.d)
and IPv4-compatible (::a.b.c.d, when the first 96 bits are zero and the
address is not ::/112) addresses.

AddressBook numbers the raw addresses of each batch (in C, csrc/addresses.c's
code_addresses, or its numpy twin here), formats each new one once, and
maps back, so no per-packet Python string work happens on big files.
"""

from __future__ import annotations

import numpy as np


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


def code_addresses_numpy(version: np.ndarray, src: np.ndarray, dst: np.ndarray, codes: np.ndarray,
                         first: np.ndarray) -> int:
    """csrc/addresses.c's code_addresses() with numpy (the reference, and the fallback when the C part is not built).

    An address is (version, 16 raw bytes). ``codes`` (int32, 2n) gets a code
    per src row then per dst row, in order of first appearance; ``first``
    (int64, 2n) gets each code's first position in that src-then-dst order.
    Returns how many distinct addresses there are.
    """
    n = len(version)
    keys = np.empty((2 * n, 3), dtype=np.uint64)
    keys[:, 0] = np.concatenate([version, version])
    keys[:n, 1:] = np.ascontiguousarray(src).view(np.uint64)
    keys[n:, 1:] = np.ascontiguousarray(dst).view(np.uint64)
    _, first_at, inverse = np.unique(keys.view(np.dtype((np.void, 24)))[:, 0], return_index=True, return_inverse=True)
    order = np.argsort(first_at, kind="stable")  # np.unique sorts; number by first appearance instead
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    codes[:] = rank[inverse.ravel()]
    first[: len(order)] = first_at[order]
    return len(order)


try:
    from ._native import code_addresses as _code_addresses_c
except ImportError:  # not built: the numpy twin
    _code_addresses_c = None


class AddressBook:
    """Distinct addresses seen so far -> small int codes, and their text once each.

    Rows keep an int32 code instead of 16 raw bytes; the text column is built
    at the end with one pyarrow take over the distinct texts. Numpy only (and
    C): the reader can run before pandas is imported.
    """

    def __init__(self) -> None:
        self.texts: list[str] = []
        self._index: dict[bytes, int] = {}

    def codes(self, version: np.ndarray, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The addresses of a batch (raw (n, 16) uint8, with the rows' IP version), numbered: (codes, book_codes).

        ``codes`` (int32, 2n): the src rows' then the dst rows', numbered within
        the batch; ``book_codes[codes]`` are the book's codes (book_codes: int32,
        one per distinct address of the batch). The caller applies the mapping
        (book_column_codes) when it suits it: the reader leaves it to the
        thread that joins the batches.
        """
        n = len(version)
        version, src, dst = (np.ascontiguousarray(a) for a in (version, src, dst))
        local = np.empty(2 * n, dtype=np.int32)
        first = np.empty(2 * n, dtype=np.int64)
        count = (_code_addresses_c or code_addresses_numpy)(version, src, dst, local, first)
        mapping = np.empty(count, dtype=np.int32)
        index, texts = self._index, self.texts
        for k, at in enumerate(first[:count].tolist()):
            row = at % n if n else 0
            v = int(version[row])
            key = bytes((v,)) + (src if at < n else dst)[row].tobytes()
            code = index.get(key)
            if code is None:
                code = index[key] = len(texts)
                texts.append(format_ipv4(key[1:5]) if v == 4 else format_ipv6(key[1:]))
            mapping[k] = code
        return local, mapping

    @staticmethod
    def book_column_codes(codes: np.ndarray, book_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """codes() of a batch -> the book's int32 codes of its src and of its dst addresses."""
        coded = book_codes[codes]
        n = len(coded) // 2
        return coded[:n], coded[n:]

    def column(self, codes: np.ndarray):
        """The ``string`` column (pandas, Arrow-backed) of the addresses with these codes."""
        import pandas as pd
        import pyarrow as pa

        return pd.array(pa.array(self.texts, pa.string()).take(pa.array(codes)), dtype="string")
