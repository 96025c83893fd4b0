"""The annotated file's packets are the input's, as tshark sees them: numbers, times, lengths, bytes.

For every sample bundle and every capture of the public corpus that abortscope reads, `abortscope
annotate` writes a pcapng whose `tshark -T fields -e frame.number -e frame.time_epoch -e frame.len -e
frame.cap_len` and `tshark -x` equal the input's, packet for packet; an extract (--verdict, --flow,
--port) equals the kept packets of the input, in order. Read back by abortscope, the annotated corpus
files give the input's connection table, column for column.
"""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

import analysis
from abortscope.cli import app
from analysis.errors import AbortscopeError
from tests.analysis.annotate.tshark import FIELDS, comments, fields, frame_bytes, hex_dump
from tests.conftest import SAMPLES, corpus_files, require_tools

runner = CliRunner()
BUNDLES = sorted(p.name for p in SAMPLES.iterdir() if (p / "meta.json").is_file())
#: Captures whose sub-second field is out of range (tcpdump's timestamp_invalid tests): tshark prints such
#: a time as it is (1418145370.1000000000) or overflowed; a pcapng timestamp is one number of ticks, so the
#: copy holds the instant the record means (1418145371.000000000), the one abortscope's reader gives.
INVALID_TIMES = ("tcpdump__timestamp_invalid_micro.pcap", "tcpdump__timestamp_invalid_nano.pcap")


def annotate(path, out, *options):
    result = runner.invoke(app, ["annotate", str(path), "-o", str(out), *map(str, options)])
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("name", BUNDLES)
def test_every_sample_bundle_keeps_its_packets(name, tmp_path):
    require_tools("tshark")
    out = tmp_path / "annotated.pcapng"
    annotate(SAMPLES / name, out)
    capture = SAMPLES / name / "capture.pcap"
    assert fields(out) == fields(capture)
    assert hex_dump(out) == hex_dump(capture)
    assert comments(out)  # and it says something


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_every_readable_corpus_capture_keeps_its_packets(path, tmp_path):
    require_tools("tshark")
    out = tmp_path / "annotated.pcapng"
    try:
        timeline = analysis.load(path)
    except AbortscopeError as exc:  # a file the reader refuses: annotate refuses it too, in one line, writing nothing
        refused = runner.invoke(app, ["annotate", str(path), "-o", str(out)])
        assert refused.exit_code == 1 and str(exc) in refused.output and len(refused.output.strip().splitlines()) == 1
        assert not out.exists()
        return
    if not len(timeline.flows):  # nothing to annotate: the command says so and writes nothing
        refused = runner.invoke(app, ["annotate", str(path), "-o", str(out)])
        assert refused.exit_code != 0 and "TCP" in refused.output and not out.exists(), refused.output
        return
    annotate(path, out)
    got, want = fields(out), fields(path)
    if path.name in INVALID_TIMES:
        instants = dict(zip(timeline.packets["frame"], timeline.packets["ts_ns"]))
        assert [_ns(row[1]) for row in got] == [instants[int(row[0])] for row in want]
        got, want = [row[:1] + row[2:] for row in got], [row[:1] + row[2:] for row in want]
    assert got == want
    assert hex_dump(out) == hex_dump(path)
    # the round trip: the annotated file tells the same story (every column of the connection table but the
    # name of the file it was read from)
    names = ["first_file", "last_file"]
    pd.testing.assert_frame_equal(analysis.load(out).connections.drop(columns=names), timeline.connections.drop(columns=names))


def _ns(epoch: str) -> int:
    seconds, _, fraction = epoch.partition(".")
    return int(seconds) * 10**9 + int(fraction.ljust(9, "0"))


def test_the_corpus_is_there_for_the_tests_above(corpus):
    assert len(corpus_files()) >= 20  # otherwise the parametrized test above ran on nothing


def _kept(path, out) -> list[int]:
    """The original frame number of each frame of an extract, as its comments say (each says it)."""
    said = comments(out)
    frames = []
    for number in range(1, len(fields(out)) + 1):
        texts = said.get(number, [])
        originals = {int(t.rsplit("(frame ", 1)[1].split()[0]) for t in texts}
        assert len(originals) <= 1, texts
        frames.append(originals.pop() if originals else None)
    return frames


def _equal_to_the_kept_packets(path, out, kept_conns):
    """The extract holds exactly the packets of ``kept_conns`` (connection numbers), in order, as tshark sees them."""
    timeline = analysis.load(path)
    packets = timeline.packets
    kept = sorted(packets.loc[packets["conn"].isin(kept_conns), "frame"].tolist())
    want = {int(row[0]): row for row in fields(path)}
    got = fields(out)
    assert len(got) == len(kept) > 0
    assert [row[1:] for row in got] == [want[frame][1:] for frame in kept]
    every_byte = frame_bytes(path)
    assert frame_bytes(out) == [every_byte[frame - 1] for frame in kept]
    # the comments name the original frame numbers: those of the kept packets
    named = _kept(path, out)
    assert all(said is None or said == frame for said, frame in zip(named, kept))
    assert any(said is not None for said in named)


def test_a_verdict_extract_is_the_kept_connections_packets(corpus, tmp_path):
    require_tools("tshark")
    path = corpus / "zeek__nmap-vsn.pcap"
    table = analysis.load(path).connections
    out = tmp_path / "refused.pcapng"
    annotate(path, out, "--verdict", "REFUSED")
    _equal_to_the_kept_packets(path, out, table.loc[table["verdict"] == "REFUSED", "conn"])
    assert len(fields(out)) < len(fields(path))


def test_a_flow_extract_and_a_port_extract(corpus, tmp_path):
    require_tools("tshark")
    path = corpus / "ppa3e__http_ip4and6.pcapng"
    table = analysis.load(path).connections
    one = table.iloc[1]
    annotate(path, tmp_path / "flow.pcapng", "--flow", one["flow"])
    _equal_to_the_kept_packets(path, tmp_path / "flow.pcapng", [one["conn"]])
    port = int(one["server"].rsplit(":", 1)[1])
    annotate(path, tmp_path / "port.pcapng", "--port", port)
    with_port = table[table["server"].str.endswith(f":{port}") | table["client"].str.endswith(f":{port}")]
    _equal_to_the_kept_packets(path, tmp_path / "port.pcapng", with_port["conn"])


def test_a_nanosecond_capture_keeps_every_digit(tmp_path):
    """The sample captures are tcpdump's nanosecond pcap: the copy's interface says 10^-9 s (if_tsresol)."""
    require_tools("tshark")
    capture = SAMPLES / "go-curl-8061" / "capture.pcap"
    out = tmp_path / "annotated.pcapng"
    annotate(capture, out)
    times = [row[0] for row in fields(out, "frame.time_epoch")]
    assert any(not t.endswith("000") for t in times)  # digits below the microsecond
    assert times == [row[0] for row in fields(capture, "frame.time_epoch")]
    assert FIELDS[1] == "frame.time_epoch"
