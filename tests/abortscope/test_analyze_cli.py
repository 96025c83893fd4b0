"""`abortscope analyze` end to end through the real CLI (typer app), on a bundle and on corpus files."""

import io
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from abortscope.cli import app
from analysis.schema import COLUMN_NAMES
from tests.analysis.bundles import bundle
from tests.conftest import SAMPLES

runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["analyze", *map(str, args)])


def test_text_prints_the_diagnosis_and_a_compact_timeline():
    result = run(bundle("go-curl-8061"))
    assert result.exit_code == 0, result.output
    assert "WRITE_AFTER_PEER_FIN_RST_EPIPE" in result.output
    assert "Why EPIPE and not ECONNRESET" in result.output
    assert "write_error" in result.output and "RST" in result.output


READERS = {"csv": pd.read_csv, "json": lambda p: pd.DataFrame(json.loads(p.read_text())),
           "jsonl": lambda p: pd.read_json(p, lines=True), "parquet": pd.read_parquet}


@pytest.mark.parametrize("fmt", sorted(READERS))
def test_exports_use_the_schema_column_names(fmt, tmp_path):
    out = tmp_path / f"timeline.{fmt}"
    result = run(bundle("go-curl-8061"), "--format", fmt, "-o", out)
    assert result.exit_code == 0, result.output
    frame = READERS[fmt](out)
    assert tuple(frame.columns) == COLUMN_NAMES
    assert {"packet", "syscall", "kernel", "app"} <= set(frame["source"])
    assert "EPIPE" in set(frame["errno"].dropna())


def test_csv_to_stdout_and_port_filter(corpus):
    both = pd.read_csv(io.StringIO(run(corpus / "zeek__irc-353-null.pcap", "--format", "csv", "--port", "6666").output))
    assert both["flow"].nunique() == 2  # the refused IPv6 attempt and the IPv4 connection
    result = run(corpus / "zeek__irc-353-null.pcap", "--format", "csv", "--port", "65389")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.output))
    assert frame["flow"].unique().tolist() == ["127.0.0.1:65389>127.0.0.1:6666"]


def test_flow_filter_and_unknown_flow(corpus):
    path = corpus / "ppa3e__http_ip4and6.pcapng"
    result = run(path, "--format", "jsonl")
    flows = {json.loads(line)["flow"] for line in result.output.splitlines()}
    assert len(flows) == 2
    one = sorted(flows)[0]
    only = run(path, "--format", "json", "--flow", one)
    assert {row["flow"] for row in json.loads(only.output)} == {one}
    bad = run(path, "--flow", "1.2.3.4:5>6.7.8.9:10")
    assert bad.exit_code != 0 and "no connection" in bad.output and "Traceback" not in bad.output


def test_not_a_capture_is_one_line_error(tmp_path):
    junk = tmp_path / "junk.pcap"
    junk.write_text("hello, this is not a capture\n")
    result = run(junk)
    assert result.exit_code != 0
    assert "Traceback" not in result.output and "abortscope:" in result.output


def test_truncated_capture_warns_and_still_succeeds(corpus):
    result = run(corpus / "suricata__http-mime-truncated.pcap")
    assert result.exit_code == 0, result.output
    assert "warning" in result.output.lower()
    assert "RST_BY_CLIENT" in result.output


def test_an_output_that_cannot_be_written_is_one_line_error(tmp_path):
    missing_dir = run(bundle("go-curl-8061"), "--format", "parquet", "-o", tmp_path / "no" / "such" / "t.parquet")
    assert missing_dir.exit_code == 1 and "no directory" in missing_dir.output and "Traceback" not in missing_dir.output
    for fmt in ("csv", "parquet"):  # the path is a directory: found only when writing
        result = run(bundle("go-curl-8061"), "--format", fmt, "-o", tmp_path)
        assert result.exit_code == 1, result.output
        assert "cannot write the export" in result.output and "Traceback" not in result.output


def _streamed_equals_loaded(path, tmp_path, **keep):
    from analysis import Keep, load
    from analysis.api import export_timeline
    from analysis.export import export

    streamed, expected = tmp_path / "streamed.parquet", tmp_path / "expected.parquet"
    summary = export_timeline(path, "parquet", streamed, keep=Keep(**keep))
    loaded = load(path, keep=Keep(**keep))
    export(loaded.events, "parquet", expected)
    assert summary.rows == len(loaded.events) > 0
    pd.testing.assert_frame_equal(pd.read_parquet(streamed), pd.read_parquet(expected))
    return pd.read_parquet(streamed)


def test_streamed_parquet_equals_the_loaded_timeline(tmp_path):
    capture = SAMPLES / "go-curl-8061" / "capture.pcap"
    frame = _streamed_equals_loaded(capture, tmp_path)
    assert set(frame["kind"]) >= {"SYN", "FIN", "DATA", "RST"} and set(frame["source"]) == {"packet"}
    assert set(frame["file"]) == {"capture.pcap"}


def test_streamed_parquet_with_filters_equals_the_loaded_timeline(corpus, tmp_path):
    path = corpus / "ppa3e__http_ip4and6.pcapng"
    whole = _streamed_equals_loaded(path, tmp_path)
    one = sorted(whole["flow"].unique())[0]
    assert set(_streamed_equals_loaded(path, tmp_path, flow=one)["flow"]) == {one}
    port = int(one.rsplit(":", 1)[1])
    assert set(_streamed_equals_loaded(path, tmp_path, port=port)["flow"]) == set(whole["flow"])  # both use port 80


def test_a_big_file_read_without_the_c_part_says_how_to_build_it(monkeypatch):
    from abortscope.commands import analyze as command
    from analysis.pcap import walk

    monkeypatch.setattr(command, "BIG_FILE_BYTES", 0)  # every file counts as big
    monkeypatch.setattr(walk, "ACCELERATED", False)
    result = run(SAMPLES / "go-curl-8061" / "capture.pcap", "--format", "csv")
    assert result.exit_code == 0, result.output
    assert "not built" in result.output and "apt-get install -y gcc python3-dev" in result.output
    monkeypatch.setattr(walk, "ACCELERATED", True)
    assert "not built" not in run(SAMPLES / "go-curl-8061" / "capture.pcap", "--format", "csv").output


def test_an_interrupted_parquet_export_stops_the_writer_and_leaves_no_half_file(monkeypatch, tmp_path):
    """Ctrl-C after the writer has written rows: no file (not even the temporary one), no thread left."""
    import threading

    import analysis.stream.timeline as timeline_rows
    from analysis.api import export_timeline

    real_hand_over = timeline_rows.TimelineRows._hand_over

    def hand_over_then_ctrl_c(self, columns):
        real_hand_over(self, columns)
        assert self.writer.table.rows > 0  # rows went to the writer thread
        raise KeyboardInterrupt

    monkeypatch.setattr(timeline_rows.TimelineRows, "_hand_over", hand_over_then_ctrl_c)
    monkeypatch.setattr(timeline_rows, "SLACK_NS", -10**18)  # hand every row over at once
    out = tmp_path / "t.parquet"
    with pytest.raises(KeyboardInterrupt):
        export_timeline(SAMPLES / "go-curl-8061" / "capture.pcap", "parquet", out)
    assert list(tmp_path.iterdir()) == []
    assert not [t for t in threading.enumerate() if t.name.startswith(("parquet", "read-ahead"))]


def test_the_cli_reads_the_capture_once_through_its_read_ahead(monkeypatch):
    import analysis.stream.source as source

    def second_read(*args, **kwargs):
        raise AssertionError("the pass read the capture again instead of taking the read-ahead's batches")

    monkeypatch.setattr(source, "BatchRead", second_read)
    for args in ((SAMPLES / "go-curl-8061", "--format", "csv"), (SAMPLES / "go-curl-8061" / "capture.pcap",)):
        result = run(*args)
        assert result.exit_code == 0, result.output
        assert "RST" in result.output


def test_ctrl_c_while_the_analysis_runs_leaves_no_read_ahead_thread(monkeypatch):
    import threading
    import time

    import analysis.api as api
    from analysis.pcap import stream

    real_decode = stream.decode

    def slow_decode(batch):  # the read is still going when the interrupt lands
        time.sleep(0.5)
        return real_decode(batch)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(stream, "decode", slow_decode)
    monkeypatch.setattr(api, "export_timeline", interrupted)
    result = run(SAMPLES / "go-curl-8061" / "capture.pcap", "--format", "csv")
    assert result.exit_code == 130  # as a shell reports SIGINT
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]


def test_parquet_reads_back_as_the_timeline_with_numbers_delta_encoded(tmp_path):
    """What a notebook gets back is the timeline (schema dtypes), stored as export.py says: integers delta-packed."""
    import pyarrow.parquet as pq

    from analysis import load
    from analysis.export import exportable

    capture = SAMPLES / "go-curl-8061" / "capture.pcap"
    out = tmp_path / "t.parquet"
    assert run(capture, "--format", "parquet", "-o", out).exit_code == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out), exportable(load(capture).events).reset_index(drop=True))
    column = {c.path_in_schema: c for c in (pq.ParquetFile(out).metadata.row_group(0).column(i) for i in range(15))}
    assert "DELTA_BINARY_PACKED" in column["ts_ns"].encodings and column["ts_ns"].compression == "UNCOMPRESSED"
    assert "BYTE_STREAM_SPLIT" in column["t_rel"].encodings
    assert column["flow"].compression == "SNAPPY" and column["flow"].is_stats_set is False
