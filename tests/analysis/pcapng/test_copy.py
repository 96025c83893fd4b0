"""The pcapng writer on literal captures: every layout the reader knows comes out as tshark read it going in.

Each test writes a capture as the format drafts lay it out (tests/analysis/pcap/builders.py), copies it with
comments on some frames, and compares what tshark shows of the two.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from analysis.pcapng import blocks, gather
from analysis.pcapng.copy import Annotations, copy_annotated
from tests.analysis.annotate.tshark import comments, fields, frame_bytes, section_comments
from tests.analysis.pcap import builders as b
from tests.conftest import SAMPLES, require_tools


def packet(seq: int, payload: bytes = b"") -> bytes:
    return b.ether(b.ipv4(b.tcp(seq=seq, flags=b.TCP_ACK, payload=payload)))


def annotations(by_frame: dict[int, list[str]], keep: list[int] | None = None) -> Annotations:
    frames = sorted(by_frame)
    texts = [text for frame in frames for text in by_frame[frame]]
    bounds = np.cumsum([0] + [len(by_frame[f]) for f in frames])
    mask = None
    if keep is not None:
        mask = np.zeros(max(keep) + 1, dtype=bool)
        mask[keep] = True
    return Annotations(np.array(frames, dtype=np.int64), bounds, pa.array(texts, pa.string()), mask,
                       ("made by a test",), "abortscope-test")


def copy(path: Path, out: Path, notes: Annotations, **options):
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        return copy_annotated(path, fd, notes, **options)
    finally:
        os.close(fd)


def same_packets(a: Path, out: Path) -> None:
    assert fields(out) == fields(a)
    assert frame_bytes(out) == frame_bytes(a)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_classic_pcap_in_either_byte_order_and_unit(order, nano, tmp_path):
    require_tools("tshark")
    unit = 10**9 if nano else 10**6
    records = [(1_700_000_000 + i, (i * 123_457) % unit, packet(i, b"x" * i)) for i in range(1, 6)]
    records.append((1_700_000_009, 7, packet(9, b"y" * 70), 200))  # cut by a snaplen: cap_len < len
    path = tmp_path / "in.pcap"
    path.write_bytes(b.pcap(records, order=order, nano=nano))
    out = tmp_path / "out.pcapng"
    report = copy(path, out, annotations({2: ["two ❷", "two again, with a comma, and ünïcode"], 6: ["six"]}))
    same_packets(path, out)
    assert comments(out) == {2: ["two ❷", "two again, with a comma, and ünïcode"], 6: ["six"]}
    assert (report.frames_read, report.frames_written, report.comments_written) == (6, 6, 3)
    assert section_comments(out) == ("abortscope-test", ["made by a test"])


def _two_sections() -> bytes:
    """A little-endian section (EPB, SPB, name resolution, OPB) and a big-endian one whose EPB has a comment."""
    first = (b.shb("<") + b.idb(1, tsresol=9) + b.epb(0, 1_700_000_000_000_000_001, packet(1))
             + b.spb(packet(2)) + b.nrb() + b.opb(0, 1_700_000_000_000_000_900, packet(3)))
    data = packet(4, b"odd")  # 57 bytes: padded before the options
    body = (np.array([0, 0, 1 << 20, len(data), len(data)], dtype=">u4").tobytes() + data + bytes(-len(data) % 4)
            + b.option(1, b"already here", ">") + b.option(0, b"", ">"))
    second = b.shb(">") + b.idb(1, order=">") + b._block(6, body, ">") + b.epb(0, 5 << 20, packet(5), order=">")
    return first + second


def test_pcapng_blocks_are_copied_and_commented_in_both_byte_orders(tmp_path):
    require_tools("tshark")
    path = tmp_path / "in.pcapng"
    path.write_bytes(_two_sections())
    out = tmp_path / "out.pcapng"
    report = copy(path, out, annotations({n: [f"on {n}"] for n in (1, 2, 3, 4, 5)}))
    same_packets(path, out)
    # a simple packet block cannot hold options: its comment is left out, and counted
    assert comments(out) == {1: ["on 1"], 3: ["on 3"], 4: ["already here", "on 4"], 5: ["on 5"]}
    assert report.frames_left_uncommented == 1 and report.comments_written == 4
    assert len(out.read_bytes()) > len(path.read_bytes())


def test_an_extract_keeps_the_chosen_frames_and_every_other_block(tmp_path):
    require_tools("tshark")
    path = tmp_path / "in.pcapng"
    path.write_bytes(_two_sections())
    out = tmp_path / "out.pcapng"
    report = copy(path, out, annotations({3: ["three"]}, keep=[1, 3, 5]))
    everything = fields(path)
    assert [row[1:] for row in fields(out)] == [everything[i][1:] for i in (0, 2, 4)]
    assert frame_bytes(out) == [frame_bytes(path)[i] for i in (0, 2, 4)]
    assert comments(out) == {2: ["three"]}
    assert (report.frames_read, report.frames_written) == (5, 3)


def test_small_windows_write_the_same_file(tmp_path):
    """Window edges fall everywhere with 256-byte windows: the file is the one 32 MiB windows make."""
    captures = [SAMPLES / "go-curl-8061" / "capture.pcap", tmp_path / "two.pcapng"]
    captures[1].write_bytes(_two_sections())
    notes = annotations({1: ["a"], 3: ["b", "c"], 5: ["d" * 300]})
    for path in captures:
        copy(path, tmp_path / "whole.pcapng", notes)
        copy(path, tmp_path / "small.pcapng", notes, chunk_bytes=256)
        assert (tmp_path / "small.pcapng").read_bytes() == (tmp_path / "whole.pcapng").read_bytes()


def test_a_capture_cut_short_gives_the_packets_before_the_cut(tmp_path):
    require_tools("tshark")
    whole = _two_sections()
    path = tmp_path / "cut.pcapng"
    path.write_bytes(whole[:-20])  # into the last block
    out = tmp_path / "out.pcapng"
    report = copy(path, out, annotations({}))
    assert len(fields(out)) == 4 and report.warnings and "stopped reading there" in report.warnings[0]
    assert frame_bytes(out) == frame_bytes(path)[:4]


def test_the_writev_path_and_the_os_path_write_the_same_bytes(tmp_path, monkeypatch):
    path = SAMPLES / "go-curl-8061" / "capture.pcap"
    notes = annotations({1: ["a"], 9: ["b"]})
    copy(path, tmp_path / "native.pcapng", notes)
    monkeypatch.setattr(gather, "NATIVE", False)
    copy(path, tmp_path / "os.pcapng", notes)
    assert (tmp_path / "os.pcapng").read_bytes() == (tmp_path / "native.pcapng").read_bytes()


def test_a_short_write_goes_on_from_where_it_stopped():
    iov = np.array([[100, 10], [200, 20], [300, 30]], dtype=np.uint64)
    assert gather._advance(iov, 0, 3, 15) == 1  # the first piece whole, 5 bytes of the second
    assert iov[1].tolist() == [205, 15]
    assert gather._advance(iov, 1, 2, 45) == 3


def test_comments_are_options_as_the_draft_lays_them_out():
    texts = pa.array(["a", "bcd", "", "é" * 40000, "z"])
    encoded, start, length = blocks.comment_options(texts, np.array([0, 2, 4, 5]), ">")
    data = encoded.tobytes()
    first = data[start[0] : start[0] + length[0]]
    assert first == b.option(1, b"a", ">") + b.option(1, b"bcd", ">") + b.option(0, b"", ">")
    second = data[start[1] : start[1] + length[1]]
    assert second.startswith(b.option(1, b"", ">")) and second.endswith(b.option(0, b"", ">"))
    code, size = int.from_bytes(second[4:6], "big"), int.from_bytes(second[6:8], "big")
    value = second[8 : 8 + size].decode()  # 80,000 bytes of text, cut to what a 16-bit length holds
    assert code == 1 and size <= 65535 and value.endswith("…") and set(value[:-1]) == {"é"}
    assert data[start[2] : start[2] + length[2]] == b.option(1, b"z", ">") + b.option(0, b"", ">")


def test_tshark_reads_the_biggest_option(tmp_path):
    require_tools("tshark")
    path = SAMPLES / "go-curl-8061" / "capture.pcap"
    out = tmp_path / "out.pcapng"
    copy(path, out, annotations({1: ["é" * 40000]}))
    said = comments(out)[1][0]
    assert said.endswith("…") and 32000 < len(said) < 40000


def test_capinfos_is_happy_with_the_file(tmp_path):
    require_tools("capinfos")
    path = tmp_path / "in.pcapng"
    path.write_bytes(_two_sections())
    out = tmp_path / "out.pcapng"
    copy(path, out, annotations({1: ["x"]}))
    proc = subprocess.run(["capinfos", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0 and "Number of packets:   5" in proc.stdout


def test_a_pcap_that_says_its_fcs_length_keeps_saying_it(tmp_path):
    """Link type 0x24000001: Ethernet, FCS length known, 2 words of 16 bits; pcapng's interface says 32 bits."""
    require_tools("tshark", "capinfos")
    path = tmp_path / "fcs.pcap"
    path.write_bytes(b.pcap([(1, 2, packet(1) + b"\x11\x22\x33\x44")], linktype=0x24000001))
    out = tmp_path / "out.pcapng"
    copy(path, out, annotations({}))
    same_packets(path, out)
    assert "FCS length = 32" in subprocess.run(["capinfos", str(out)], capture_output=True, text=True).stdout
    fcs = [line for line in subprocess.run(["tshark", "-r", str(out), "-V"], capture_output=True, text=True)
           .stdout.splitlines() if "Frame check sequence" in line]
    assert fcs == ["    Frame check sequence: 0x11223344 [unverified]"]
