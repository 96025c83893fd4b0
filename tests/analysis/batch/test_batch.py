"""`abortscope batch` and analysis.batch on Dask's real scheduler and worker processes, on loopback only."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

import analysis
from abortscope.cli import app
from analysis.api import export_table, export_timeline
from analysis.batch import capture_ids, read_manifest, run
from tests.analysis.stream.pieces import cut
from tests.conftest import SAMPLES

pytestmark = pytest.mark.slow
CAPTURES = sorted(SAMPLES.glob("*/capture.pcap"))  # 11 one-connection captures


@pytest.fixture
def inputs(tmp_path) -> list[Path]:
    """Ten captures: nine files and one directory of a capture's rotated pieces."""
    folder = tmp_path / "in"
    folder.mkdir()
    files = []
    for capture in CAPTURES[:9]:
        files.append(shutil.copy(capture, folder / f"{capture.parent.name}.pcap"))
    cut(SAMPLES / "go-half-close" / "capture.pcap", folder / "ring", 4)
    return [Path(f) for f in files] + [folder / "ring"]


def _partition(dataset: Path, table: str, capture_id: str) -> pd.DataFrame:
    return pd.read_parquet(dataset / table / f"capture={capture_id}" / "part-0.parquet")


def test_ten_captures_on_a_local_cluster_of_two_processes_equal_the_analyses_of_each(inputs, tmp_path):
    dataset = tmp_path / "dataset"
    finished = []
    manifest = run(inputs, dataset, workers=2, on_done=finished.append)
    assert sorted(e["status"] for e in finished) == ["ok"] * 10
    for path, capture_id in zip(inputs, capture_ids(inputs)):
        export_table(path, "connections", "parquet", tmp_path / "c.parquet")
        export_timeline(path, "parquet", tmp_path / "t.parquet")
        pd.testing.assert_frame_equal(_partition(dataset, "connections", capture_id), pd.read_parquet(tmp_path / "c.parquet"))
        pd.testing.assert_frame_equal(_partition(dataset, "timeline", capture_id), pd.read_parquet(tmp_path / "t.parquet"))
        entry = manifest["captures"][capture_id]
        assert entry["status"] == "ok" and len(entry["sha256"]) == 64 and entry["input"] == str(path.resolve())
    assert manifest["captures"]["ring"]["files"] == ["part", "part1", "part2", "part3"]
    # read across the captures: pandas, Dask, DuckDB
    table = analysis.read_dataset(dataset)
    assert len(table) == 10 and set(table["capture"].astype(str)) == set(capture_ids(inputs))
    assert len(analysis.read_dataset(dataset, engine="dask").compute()) == 10
    late = analysis.read_dataset(dataset, filters=[("verdict", "==", "WRITE_AFTER_PEER_FIN_RST")])
    assert set(late["verdict"].astype(str)) == {"WRITE_AFTER_PEER_FIN_RST"} and 0 < len(late) < 10
    counted = duckdb.sql(f"select count(*) from read_parquet('{dataset}/connections/*/*.parquet', "
                         "hive_partitioning = true) where verdict = 'WRITE_AFTER_PEER_FIN_RST'").fetchall()[0][0]
    assert counted == len(late)
    assert len(analysis.read_dataset(dataset, "timeline")) == sum(e["timeline_rows"] for e in manifest["captures"].values())


def test_a_run_again_skips_what_the_dataset_has_and_force_or_a_changed_file_does_not(inputs, tmp_path):
    dataset = tmp_path / "dataset"
    run(inputs[:3], dataset, workers=1)
    before = read_manifest(dataset)
    statuses = []
    inputs[0].write_bytes(CAPTURES[9].read_bytes())  # another capture under the same name
    run(inputs[:3], dataset, workers=1, on_done=lambda e: statuses.append((e["capture"], e["status"])))
    first, second, third = capture_ids(inputs[:3])
    assert sorted(statuses) == sorted([(first, "ok"), (second, "skipped"), (third, "skipped")])
    after = read_manifest(dataset)["captures"]
    assert after[second] == before["captures"][second] and after[first]["sha256"] != before["captures"][first]["sha256"]
    statuses.clear()
    run(inputs[:3], dataset, workers=1, force=True, on_done=lambda e: statuses.append(e["status"]))
    assert statuses == ["ok"] * 3


def test_a_damaged_input_is_reported_and_the_others_finish(inputs, tmp_path):
    junk = tmp_path / "in" / "junk.pcap"
    junk.write_text("not a capture")
    cut_short = tmp_path / "in" / "cut-short.pcap"
    cut_short.write_bytes(CAPTURES[0].read_bytes()[:-9])
    dataset = tmp_path / "dataset"
    result = CliRunner().invoke(app, ["batch", *map(str, [junk, cut_short, *inputs[:2]]), "--out", str(dataset),
                                      "--workers", "2"])
    assert result.exit_code == 1
    assert "junk.pcap: CaptureFormatError" in result.output and "Traceback" not in result.output
    assert "3 capture(s)" in result.output and "1 failed" in result.output
    captures = read_manifest(dataset)["captures"]
    assert captures["junk.pcap"]["status"] == "error" and "not a pcap or pcapng file" in captures["junk.pcap"]["error"]
    assert not (dataset / "connections" / "capture=junk.pcap").exists()
    assert captures["cut-short.pcap"]["status"] == "ok" and "truncated" in captures["cut-short.pcap"]["warnings"][0]
    assert len(analysis.read_dataset(dataset)) == 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_scheduler_and_a_worker_started_apart_run_the_batch_by_address(inputs, tmp_path):
    port = _free_port()
    dask = str(Path(sys.executable).with_name("dask"))
    scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([dask, "worker", f"tcp://127.0.0.1:{port}", "--host", "127.0.0.1", "--nworkers", "1",
                               "--nthreads", "1", "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_a_worker(port)
        result = CliRunner().invoke(app, ["batch", *map(str, inputs[:4]), "--out", str(tmp_path / "dataset"),
                                          "--scheduler", f"tcp://127.0.0.1:{port}"])
        assert result.exit_code == 0, result.output
        assert "4 capture(s)" in result.output
        assert len(analysis.read_dataset(tmp_path / "dataset")) == 4
    finally:
        for process in (worker, scheduler):  # ours, by PID
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_a_worker(port: int, seconds: float = 60) -> None:
    from distributed import Client

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with Client(f"tcp://127.0.0.1:{port}", timeout=5) as client:
                client.wait_for_workers(1, timeout=deadline - time.monotonic())
                return
        except (OSError, TimeoutError):
            time.sleep(0.2)
    raise AssertionError(f"no Dask worker joined the scheduler on port {port} within {seconds} s")
