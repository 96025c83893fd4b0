"""The connection table made a chunk at a time on a thread of its own while the pass folds on: the same table
as the whole-table way, chunk after chunk in order; a failure there is the pass's failure."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

import analysis
import analysis.stream.exports as exports
import analysis.stream.outputs as outputs
import analysis.stream.passes as passes
import analysis.stream.reading as reading
from analysis.api import read_passes
from analysis.export import TableWriter
from analysis.inputs import resolve
from analysis.stream.outputs import ConnectionRows
from analysis.stream.passes import Output
from tests.conftest import SAMPLES, corpus_files, corpus_params

CAPTURES = [SAMPLES / "go-curl-8061" / "capture.pcap",
            *corpus_params(corpus_files("zeek__nmap-vsn.pcap") + corpus_files("suricata__http-mime-truncated.pcap"))]


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(reading, "BATCH_ROWS", 5)
    monkeypatch.setattr(outputs, "TABLE_CHUNK", 2)
    monkeypatch.setattr(passes, "CHUNK_CONNECTIONS", 3)


@pytest.mark.parametrize("threaded", [True, False], ids=["on-a-thread", "in-the-pass"])
@pytest.mark.parametrize("capture", CAPTURES, ids=lambda c: getattr(c, "name", str(c)))
def test_the_chunks_make_the_whole_table_in_order(capture, threaded, small_chunks):
    chunks, where = [], set()

    def take(table):
        chunks.append(table)
        where.add(threading.current_thread().name.split("_")[0])

    read_passes(resolve(capture), [ConnectionRows(take, chunks.clear, threaded=threaded)], {})
    whole = analysis.load(capture).connections
    assert len(chunks) > 1 or len(whole) <= 2
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)
    assert where == ({"connection-rows"} if threaded else {threading.current_thread().name})
    assert not [t for t in threading.enumerate() if t.name.startswith("connection-rows")]  # ended with the pass


def test_a_failure_making_the_rows_is_the_passes_failure(small_chunks):
    def take(table):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        read_passes(resolve(SAMPLES / "go-curl-8061" / "capture.pcap"), [ConnectionRows(take)], {})


class _InexactOnce(Output):
    """An output that cannot be exact in the first pass: the pass runs again."""

    def __init__(self):
        self.passes = 0

    def start(self, attempt: int) -> None:
        self.passes += 1

    def again(self) -> bool:
        return self.passes == 1


def test_a_pass_run_again_writes_each_connection_once(small_chunks, tmp_path, monkeypatch):
    """The first pass's last chunk is still being made when the pass runs again: the file and the chosen
    connections start over only once it is taken, so nothing of the first pass is left in them."""
    rows = outputs.ConnectionRows._rows

    def slow(self, parts, names):
        time.sleep(0.05)  # the worker still at it when the next pass starts
        rows(self, parts, names)

    monkeypatch.setattr(outputs.ConnectionRows, "_rows", slow)
    monkeypatch.setattr(outputs, "TABLE_CHUNK", 1)  # every connection a chunk of its own: handed over as it ends
    monkeypatch.setattr(exports, "KEPT_CHUNK", 1)
    capture = SAMPLES / "nginx-proxy-chain" / "capture.pcap"
    whole = analysis.load(capture).connections
    written = tmp_path / "connections.csv"
    exported = exports._ConnectionFile(TableWriter("csv", written, "connections", exports._connection_template()),
                                       None, None)
    chosen, inexact = exports._Chosen(None, None), _InexactOnce()
    read_passes(resolve(capture), [exported, chosen, inexact], {})
    assert inexact.passes == 2
    assert pd.read_csv(written)["conn"].tolist() == whole["conn"].tolist()
    assert sorted(chosen.chosen.tolist()) == whole["conn"].tolist()
