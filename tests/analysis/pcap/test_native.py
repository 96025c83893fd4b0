"""The reader's C loops (csrc/) against their Python references.

- the record-length walks against walk.walk_python and walk.walk_pcap_python;
- the header decoding against decode.decode_numpy;
- the numbering of addresses against addresses.code_addresses_numpy.

The C module is what makes a million records take a tenth of a second
instead of half a second; the install builds it (setup.py). In CI a missing
build is a failure, not a silent fallback to the slow path.
"""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.pcap import addresses, decode, fast, linktypes, walk
from tests.conftest import IN_CI, SAMPLES, corpus_files, corpus_params

from analysis.errors import CaptureFormatError

from .conftest import use_python_twins
from .builders import TCP_ACK, epb, ether, idb, ipv4, pcap, shb, tcp
from .test_fuzz import SEEDS, mutate, mutation

needs_c = pytest.mark.skipif(not walk.ACCELERATED and not IN_CI,
                             reason="the C module (analysis/pcap/csrc/) is not built (needs gcc and python3-dev; then `make install`)")


def test_the_c_module_is_built_where_ci_runs():
    if not walk.ACCELERATED:
        message = "the C module (analysis/pcap/csrc/) is not built: install gcc and python3-dev, then `pip install -e .` again"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def _both(buf: bytes, off: int, end: int, len_at: int, len_add: int, big: bool, capacity: int):
    results = []
    for fn in (walk._walk_c, walk.walk_python):
        out = np.full(capacity, -1, dtype=np.int64)
        count, stop = fn(bytearray(buf), out, off, end, len_at, len_add, big)
        results.append((count, stop, out[:count].tolist()))
    return results


@needs_c
@settings(max_examples=400, deadline=None)
@given(lengths=st.lists(st.integers(0, 70), max_size=40), junk=st.binary(max_size=64), big=st.booleans(),
       layout=st.sampled_from([(8, 16), (4, 0)]), cut=st.integers(0, 64), capacity=st.integers(0, 50))
def test_c_and_python_walks_agree(lengths, junk, big, layout, cut, capacity):
    """Records with random lengths (pcap: caplen at +8, 16-byte header; pcapng: length at +4), then junk."""
    len_at, len_add = layout
    order = ">" if big else "<"
    buf = b""
    for n in lengths:
        header = bytes(len_at) + struct.pack(order + "I", n)
        buf += header + bytes(max(0, len_add + n - len(header)))
    buf += junk
    end = max(0, len(buf) - cut)
    c, py = _both(buf, 0, end, len_at, len_add, big, capacity)
    assert c == py


@needs_c
def test_walk_stops_on_a_zero_or_overlong_length():
    le = struct.pack("<I", 0)
    assert _both(bytes(4) + le + bytes(24), 0, 32, 4, 0, False, 10)[0] == (0, 0, [])  # pcapng length 0: no progress
    record = bytes(8) + struct.pack("<I", 4) + bytes(4) + b"abcd"  # 16 + 4 bytes
    huge = bytes(8) + struct.pack("<I", 0xFFFFFFFF) + bytes(4)
    for result in _both(record + huge, 0, 40, 8, 16, False, 10):
        assert result == (1, 20, [0])


def _pcap_walked_both_ways(buf: bytes, end: int, big: bool, ns_per_tick: int, max_caplen: int):
    results = []
    for fn in (walk.walk_pcap, walk.walk_pcap_python):
        records = fn(bytearray(buf), 0, end, ">" if big else "<", ns_per_tick, max_caplen)
        results.append(tuple(value.tolist() if isinstance(value, np.ndarray) else value for value in records))
    return results


@needs_c
@settings(max_examples=400, deadline=None)
@given(records=st.lists(st.tuples(st.integers(0, 2**32 - 1),
                                  st.integers(0, 2**32 - 1) | st.sampled_from([999_999, 10**6, 10**9 - 1, 10**9]),
                                  st.integers(0, 90),
                                  st.integers(0, 2**32 - 1)), max_size=30),
       junk=st.binary(max_size=40), big=st.booleans(), ns_per_tick=st.sampled_from([1000, 1]),
       max_caplen=st.sampled_from([64, 262_144]), cut=st.integers(0, 40))
def test_c_and_python_pcap_walks_agree(records, junk, big, ns_per_tick, max_caplen, cut):
    """Whole pcap records (any seconds, fractions of a second or more, caplens over the limit), junk, a cut end:
    the same offsets, header fields, stop, and count of bad fractions."""
    order = ">" if big else "<"
    buf = b"".join(struct.pack(order + "IIII", sec, frac, caplen, origlen) + bytes(caplen)
                   for sec, frac, caplen, origlen in records) + junk
    c, py = _pcap_walked_both_ways(buf, max(0, len(buf) - cut), big, ns_per_tick, max_caplen)
    assert c == py


@needs_c
def test_the_pcap_walk_stops_on_a_record_over_the_limit_and_counts_bad_fractions():
    def record(frac: int, caplen: int) -> bytes:
        return struct.pack("<IIII", 7, frac, caplen, caplen) + bytes(caplen)

    buf = record(5, 4) + record(1_000_000, 4) + record(2_000_000, 4) + record(0, 100) + record(0, 4)
    for data_off, caplen, origlen, ts_ns, stop, bad_ts, first_bad_ts in _pcap_walked_both_ways(buf, len(buf), False, 1000, 64):
        assert data_off == [16, 36, 56] and caplen == [4, 4, 4] and stop == 60  # stopped on the 100-byte record
        assert ts_ns == [7 * 10**9 + 5000, 7 * 10**9 + 10**9, 7 * 10**9 + 2 * 10**9]
        assert (bad_ts, first_bad_ts) == (2, 1)


def _coded_both_ways(version, src, dst):
    results = []
    for fn in (addresses._code_addresses_c, addresses.code_addresses_numpy):
        codes = np.full(2 * len(version), -1, dtype=np.int32)
        first = np.full(2 * len(version), -1, dtype=np.int64)
        count = fn(version, src, dst, codes, first)
        results.append((count, codes.tolist(), first[:count].tolist()))
    return results


#: a few addresses, so rows repeat: IPv4 ones, IPv6 ones, and IPv6 ones with an IPv4 one's bytes
_RAW_ADDRESSES = [bytes([127, 0, 0, 1]) + bytes(12), bytes([10, 0, 0, 2]) + bytes(12), bytes(15) + b"\x01",
                  bytes([0x20, 0x01, 0x0D, 0xB8]) + bytes(11) + b"\x02", bytes([127, 0, 0, 1]) + bytes(11) + b"\x04"]


@needs_c
@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from([4, 6]), st.sampled_from(_RAW_ADDRESSES), st.sampled_from(_RAW_ADDRESSES)),
                     max_size=60))
def test_c_and_numpy_number_addresses_alike(rows):
    """Codes in order of first appearance over src then dst; (version, bytes) is the key, never the bytes alone."""
    version = np.array([v for v, _, _ in rows], dtype=np.int8)
    src = np.frombuffer(b"".join(s for _, s, _ in rows), dtype=np.uint8).reshape(-1, 16)
    dst = np.frombuffer(b"".join(d for _, _, d in rows), dtype=np.uint8).reshape(-1, 16)
    c, numpy_twin = _coded_both_ways(version, src, dst)
    assert c == numpy_twin
    count, codes, first = c
    keys = [(v, s) for v, s, _ in rows] + [(v, d) for v, _, d in rows]
    assert count == len(set(keys))
    assert [keys[at] for at in first] == list(dict.fromkeys(keys))  # first appearances, in order
    assert all(keys[first[code]] == key for code, key in zip(codes, keys))


def _tables_c_and_python(monkeypatch, path, chunk_bytes):
    """(table, report) read with the C module, and again with both Python references."""
    c_table, c_report = fast.read(path, chunk_bytes=chunk_bytes)
    use_python_twins(monkeypatch)
    py_table, py_report = fast.read(path, chunk_bytes=chunk_bytes)
    monkeypatch.undo()
    return (c_table, c_report), (py_table, py_report)


@needs_c
def test_compiled_limits_match_the_python_tables():
    from analysis.pcap import _native

    assert (_native.MAX_VLAN_DEPTH, _native.MAX_IPV6_EXT, _native.VLAN_BITS) == \
        (linktypes.MAX_VLAN_DEPTH, decode.MAX_IPV6_EXT, decode.VLAN_BITS)


CAPTURES = [pytest.param(p, id=f"{p.parent.name}/{p.name}") for p in sorted(SAMPLES.glob("*/capture.pcap*"))] + corpus_params(corpus_files())


@needs_c
@pytest.mark.parametrize("path", CAPTURES)
def test_real_captures_read_the_same_with_c_or_python(monkeypatch, path):
    for chunk_bytes in (fast.CHUNK_BYTES, 1000):
        try:
            (c_table, c_report), (py_table, py_report) = _tables_c_and_python(monkeypatch, path, chunk_bytes)
        except CaptureFormatError:  # a malformed corpus file: the Python path must refuse it too
            use_python_twins(monkeypatch)
            with pytest.raises(CaptureFormatError):
                fast.read(path, chunk_bytes=chunk_bytes)
            monkeypatch.undo()
            continue
        pd.testing.assert_frame_equal(c_table, py_table)
        assert c_report == py_report


@needs_c
def test_built_captures_read_the_same_with_c_or_python(monkeypatch, tmp_path):
    """Runs on a user's clone too (no corpus): a pcap and a two-interface pcapng, across window boundaries."""
    segment = tcp(flags=TCP_ACK, payload=b"x" * 300)
    files = {
        "a.pcap": pcap([(i, 0, ether(ipv4(segment))) for i in range(50)]),
        "b.pcapng": shb() + idb(1) + idb(1, tsresol=9) + b"".join(epb(i % 2, i, ether(ipv4(segment))) for i in range(50)),
    }
    for name, content in files.items():
        path = tmp_path / name
        path.write_bytes(content)
        (c_table, c_report), (py_table, py_report) = _tables_c_and_python(monkeypatch, path, 1000)
        assert len(c_table) == 50
        pd.testing.assert_frame_equal(c_table, py_table)
        assert c_report == py_report


def _read_both(monkeypatch, path):
    results = []
    for python in (False, True):
        if python:
            use_python_twins(monkeypatch)
        try:
            results.append(fast.read(path, chunk_bytes=4096))
        except CaptureFormatError as exc:
            results.append(str(exc))
        monkeypatch.undo()
    return results


@needs_c
@pytest.mark.timeout(300)
@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.sampled_from(range(len(SEEDS))), mutations=st.lists(mutation, min_size=1, max_size=4))
def test_c_and_python_agree_on_mutated_captures(monkeypatch, tmp_path, seed, mutations):
    """Damaged headers of every layer (test_fuzz's mutations): the same rows, counts and warnings, or the same error."""
    path = tmp_path / "fuzzed.pcap"
    path.write_bytes(mutate(SEEDS[seed], mutations))
    c_result, py_result = _read_both(monkeypatch, path)
    if isinstance(c_result, str) or isinstance(py_result, str):
        assert c_result == py_result
        return
    pd.testing.assert_frame_equal(c_result[0], py_result[0])
    assert c_result[1] == py_result[1]


def _beyond_limits_frame(vlan_depth: int, extensions: int, data_offset: int, payload: bytes, cut: int) -> bytes:
    """Ethernet with a VLAN stack, IPv6 with an extension chain (AH in it) or IPv4, a TCP data offset of any value."""
    from .builders import ext_ah, ext_generic, ipv6

    segment = tcp(flags=TCP_ACK, payload=payload)
    segment = segment[:12] + bytes([data_offset << 4]) + segment[13:]
    chain = [(51, ext_ah(1)) if i == 1 else (0 if i == 0 else 60, ext_generic(i % 2)) for i in range(extensions)]
    packet = ipv6(segment, ext=chain) if extensions else ipv4(segment)
    frame = ether(packet, 0x86DD if extensions else 0x0800, vlans=tuple(range(1, vlan_depth + 1)))
    return frame[: len(frame) - cut]


@needs_c
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 10), st.integers(0, 15), st.binary(max_size=40),
                                 st.integers(0, 30)), min_size=1, max_size=12))
def test_c_and_python_count_what_lies_beyond_the_limits_alike(monkeypatch, tmp_path, frames):
    """More VLAN tags or IPv6 extension headers than walked, TCP data offsets out of bounds, snaplen cuts:
    the same rows, and the same counts in the same warnings."""
    path = tmp_path / "limits.pcap"
    path.write_bytes(pcap([(1, i, _beyond_limits_frame(*f)) for i, f in enumerate(frames)]))
    c_result, py_result = _read_both(monkeypatch, path)
    pd.testing.assert_frame_equal(c_result[0], py_result[0])
    assert c_result[1] == py_result[1]
    deep_vlans = sum(1 for depth, *_ in frames if depth > linktypes.MAX_VLAN_DEPTH)
    if deep_vlans:
        assert any(w.startswith(f"{deep_vlans} records have more than 4 stacked VLAN tags") for w in c_result[1].warnings)
