"""Fuzz the readers with mutated real captures: only CaptureFormatError may escape, and nothing hangs.

Seeds are small corpus files (when the corpus is present) plus literal
captures built here, so the test runs on a user's clone too. Mutations:
bit flips, truncation, and length-like fields overwritten with edge values.
The fast and scapy engines must also agree on every mutated file.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.errors import CaptureFormatError
from analysis.pcap import read_packets
from analysis.pcap.table import PACKET_COLUMNS
from tests.conftest import corpus_files

from .builders import TCP_ACK, epb, ether, ext_generic, idb, ipv4, ipv6, pcap, shb, sll, spb, tcp

SEGMENT = tcp(flags=TCP_ACK, payload=b"data" * 5)
LITERAL_SEEDS = [
    pcap([(1, 0, ether(ipv4(SEGMENT), vlans=(5,))), (2, 0, ether(ipv6(SEGMENT, ext=[(0, ext_generic(0))]), 0x86DD))]),
    pcap([(1, 0, sll(ipv4(SEGMENT))), (2, 5, sll(ipv4(SEGMENT)))], linktype=113, order=">", nano=True),
    shb() + idb(1, tsresol=9) + idb(113) + epb(0, 5, ether(ipv4(SEGMENT))) + epb(1, 6, sll(ipv4(SEGMENT))) + spb(ether(ipv4(SEGMENT))),
]
SEEDS = LITERAL_SEEDS + [p.read_bytes() for p in corpus_files() if p.stat().st_size <= 8_000]
EDGE_VALUES = [0, 1, 12, 16, 20, 28, 0xFFFF, 262_144, 262_145, 0x7FFFFFFF, 0xFFFFFFFF, 0x0A0D0D0A, 0x1A2B3C4D]

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 20), st.integers(0, 7)),
    st.tuples(st.just("cut"), st.integers(0, 1 << 20), st.just(0)),
    st.tuples(st.just("u32"), st.integers(0, 1 << 20), st.sampled_from(EDGE_VALUES)),
    st.tuples(st.just("u16"), st.integers(0, 1 << 20), st.sampled_from([0, 5, 15, 0xFFFF, 0x8100, 0x86DD, 0x0800])),
)


def mutate(seed: bytes, mutations: list[tuple[str, int, int]]) -> bytes:
    data = bytearray(seed)
    for kind, where, value in mutations:
        if not data:
            break
        pos = where % len(data)
        if kind == "flip":
            data[pos] ^= 1 << value
        elif kind == "cut":
            del data[pos:]
        elif kind == "u32" and pos + 4 <= len(data):
            data[pos : pos + 4] = struct.pack("<I" if where & 1 else ">I", value)
        elif kind == "u16" and pos + 2 <= len(data):
            data[pos : pos + 2] = struct.pack(">H", value)
    return bytes(data)


def read_or_error(path: Path, engine: str):
    try:
        return read_packets(path, engine=engine)
    except CaptureFormatError as exc:
        assert str(exc)  # a clear message, never an empty one
        return None


@pytest.mark.timeout(300)
@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.sampled_from(range(len(SEEDS))), mutations=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_captures_give_a_table_or_a_clear_error(tmp_path, seed, mutations):
    path = tmp_path / "fuzzed.pcap"
    path.write_bytes(mutate(SEEDS[seed], mutations))
    fast = read_or_error(path, "fast")
    if fast is not None:
        df, report = fast
        assert list(df.columns) == list(PACKET_COLUMNS)
        assert report.records >= len(df)
        assert (df["len"] >= 0).all() and df["frame"].is_monotonic_increasing


@pytest.mark.timeout(300)
@settings(max_examples=150, deadline=4000, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.sampled_from(range(len(SEEDS))), mutations=st.lists(mutation, min_size=1, max_size=3))
def test_fast_and_scapy_agree_on_mutated_captures(tmp_path, seed, mutations):
    path = tmp_path / "fuzzed.pcap"
    path.write_bytes(mutate(SEEDS[seed], mutations))
    fast, scapy = read_or_error(path, "fast"), read_or_error(path, "scapy")
    assert (fast is None) == (scapy is None)
    if fast is not None:
        pd.testing.assert_frame_equal(fast[0], scapy[0])
        assert fast[1].records == scapy[1].records and fast[1].non_tcp == scapy[1].non_tcp
