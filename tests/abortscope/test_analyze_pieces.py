"""`abortscope analyze` on a capture in pieces: several files, a directory of rotated files, a glob."""

from __future__ import annotations

import io

import pandas as pd
from typer.testing import CliRunner

from abortscope.cli import app
from tests.analysis.stream.pieces import cut
from tests.conftest import SAMPLES

runner = CliRunner()
CAPTURE = SAMPLES / "go-half-close" / "capture.pcap"


def run(*args):
    return runner.invoke(app, ["analyze", *map(str, args)])


def test_the_pieces_tell_the_same_story_as_the_whole_file(tmp_path):
    pieces = cut(CAPTURE, tmp_path / "ring", 4)
    whole = run(CAPTURE)
    assert whole.exit_code == 0, whole.output
    for args in (pieces[::-1], [tmp_path / "ring"], [str(tmp_path / "ring" / "part*")]):
        result = run(*args)
        assert result.exit_code == 0, result.output
        assert result.output == whole.output  # frames run on: the rows shown are the same, #1 to #15


def test_the_connection_table_says_in_which_files_each_connection_is(tmp_path):
    cut(CAPTURE, tmp_path, 4)
    result = run(tmp_path, "--table", "connections", "--format", "csv")
    assert result.exit_code == 0, result.output
    [row] = pd.read_csv(io.StringIO(result.output)).to_dict("records")
    assert (row["first_file"], row["last_file"], row["verdict"]) == ("part", "part3", "HALF_CLOSE_CLEAN")
    timeline = pd.read_csv(io.StringIO(run(tmp_path, "--format", "csv").output))
    assert timeline.groupby("file")["frame"].agg(["min", "max"]).to_dict("index") == {
        "part": {"min": 1, "max": 4}, "part1": {"min": 5, "max": 8}, "part2": {"min": 9, "max": 12},
        "part3": {"min": 13, "max": 15}}


def test_a_bundle_among_other_captures_is_a_one_line_error(tmp_path):
    result = run(SAMPLES / "go-curl-8061", CAPTURE)
    assert result.exit_code == 1
    assert "a run bundle is analyzed on its own" in result.output and "Traceback" not in result.output
