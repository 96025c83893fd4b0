"""A capture cut into pieces (editcap -c, as a rotating tcpdump would) is analyzed as the whole file: the same
connections, verdicts, byte counts, histories and timeline; frames run on across the pieces, and each row and
connection says which piece it came from."""

from __future__ import annotations

import pandas as pd
import pytest

import analysis
import analysis.stream.reading as reading
from analysis.api import export_table
from tests.analysis.stream.pieces import cut
from tests.conftest import CORPUS, SAMPLES

FILE_COLUMNS = ["first_file", "last_file"]
CAPTURES = [
    (SAMPLES / "go-curl-8061" / "capture.pcap", 3),
    (CORPUS / "suricata__http-mime-truncated.pcap", 500),  # 2,696 packets, damaged at the end
    (CORPUS / "zeek__tcp-timestamp-snaplen96.pcap", 100),
    (CORPUS / "ppa3e__http_ip4and6.pcapng", 7),  # pcapng, IPv4 and IPv6
    (CORPUS / "zeek__nmap-vsn.pcap", 40),  # 17 connections, refused and reset
]


@pytest.fixture(params=[None, 11], ids=["one-batch-a-piece", "11-packet-batches"])
def batch_rows(request, monkeypatch):
    if request.param:
        monkeypatch.setattr(reading, "BATCH_ROWS", request.param)
    return request.param


@pytest.mark.parametrize("capture,per_piece", CAPTURES, ids=[c.name for c, _ in CAPTURES])
def test_the_pieces_are_the_whole_capture(tmp_path, capture, per_piece, batch_rows):
    if not capture.exists():
        pytest.skip(f"{capture} not here (the corpus sits beside the repo)")
    pieces = cut(capture, tmp_path, per_piece)
    assert len(pieces) > 1
    whole, parts = analysis.load(capture), analysis.load(tmp_path)
    pd.testing.assert_frame_equal(parts.flows.drop(columns=FILE_COLUMNS), whole.flows.drop(columns=FILE_COLUMNS))
    table, expected = parts.connections, whole.connections
    for column in ("verdict", "history", "conn_state", "bytes_client", "bytes_server", "bytes_lost", "bytes_after_close"):
        assert table[column].tolist() == expected[column].tolist(), column
    events = parts.events
    pd.testing.assert_frame_equal(events.drop(columns=["file"]), whole.events.drop(columns=["file"]))
    # the piece of every packet, and of every connection's first and last packet
    per_piece = {p.name: len(analysis.load(p).packets) for p in pieces}
    piece_of_frame = dict(zip(parts.packets["frame"], parts.packets["file"].map(dict(enumerate(parts.files)))))
    assert [piece_of_frame[f] for f in table["first_frame"]] == table["first_file"].tolist()
    assert [piece_of_frame[f] for f in table["last_frame"]] == table["last_file"].tolist()
    assert events["file"].dropna().astype(str).value_counts().to_dict() == {k: n for k, n in per_piece.items() if n}
    assert not [w for w in parts.report.warnings if "overlaps" in w]  # pieces of one capture follow each other


def test_a_connection_across_pieces_is_one_connection_and_says_so(tmp_path):
    capture = SAMPLES / "go-half-close" / "capture.pcap"
    cut(capture, tmp_path, 4)
    [row] = analysis.load(tmp_path).connections.to_dict("records")
    assert (row["first_file"], row["last_file"], row["verdict"]) == ("part", "part3", "HALF_CLOSE_CLEAN")


def test_the_streamed_connection_table_of_the_pieces_is_the_whole_ones(tmp_path, batch_rows):
    capture = CORPUS / "zeek__nmap-vsn.pcap"
    if not capture.exists():
        pytest.skip("the corpus sits beside the repo")
    cut(capture, tmp_path / "ring", 9)
    export_table(capture, "connections", "parquet", tmp_path / "whole.parquet")
    summary = export_table(tmp_path / "ring", "connections", "parquet", tmp_path / "parts.parquet")
    whole, parts = pd.read_parquet(tmp_path / "whole.parquet"), pd.read_parquet(tmp_path / "parts.parquet")
    assert summary.rows == len(whole) == 17
    pd.testing.assert_frame_equal(parts.drop(columns=FILE_COLUMNS), whole.drop(columns=FILE_COLUMNS))


def test_overlapping_pieces_are_read_in_order_and_the_overlap_is_reported(tmp_path):
    capture = SAMPLES / "go-curl-8061" / "capture.pcap"
    first, second = cut(capture, tmp_path, 5)
    (tmp_path / "again").write_bytes(first.read_bytes())  # the first piece a second time: it overlaps the second
    timeline = analysis.load(tmp_path)
    assert timeline.files == ("again", "part", "part1") or timeline.files == ("part", "again", "part1")
    [overlap] = [w for w in timeline.report.warnings if "overlaps" in w]
    assert "starts" in overlap and "before" in overlap
    assert len(timeline.packets) == 9 + 5
