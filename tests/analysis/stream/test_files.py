"""Several files as one capture (analysis.stream.files): which files, in which order, under which names."""

from __future__ import annotations

import os
import shutil

import pytest

from analysis.errors import AbortscopeError
from analysis.stream.files import capture_set
from tests.analysis.stream.pieces import cut
from tests.conftest import SAMPLES

CAPTURE = SAMPLES / "go-half-close" / "capture.pcap"  # 15 packets


def test_pieces_are_read_in_capture_order_whatever_order_they_are_named_in(tmp_path):
    pieces = cut(CAPTURE, tmp_path, 4)
    assert [p.name for p in pieces] == ["part", "part1", "part2", "part3"]
    given = [pieces[2], pieces[0], pieces[3], pieces[1]]
    captures = capture_set(given)
    assert captures.names == ("part", "part1", "part2", "part3")
    firsts = [f.first_ts_ns for f in captures.files]
    assert firsts == sorted(firsts) and len(set(firsts)) == 4


def test_a_directory_is_every_capture_in_it_whatever_the_names_and_nothing_else(tmp_path):
    pieces = cut(CAPTURE, tmp_path / "ring", 5)
    (tmp_path / "ring" / "part.json").write_text('{"sidecar": true}')
    (tmp_path / "ring" / "notes.txt").write_text("not a capture")
    captures = capture_set([tmp_path / "ring"])
    assert captures.paths == tuple(pieces)
    assert captures.names == ("part", "part1", "part2")


def test_a_glob_and_names_relative_to_the_folder_the_files_share(tmp_path):
    cut(CAPTURE, tmp_path / "a", 8, name="x")
    shutil.copy(tmp_path / "a" / "x1", tmp_path / "b.pcap")
    assert capture_set([str(tmp_path / "a" / "x*")]).names == ("x", "x1")
    assert capture_set([tmp_path / "a" / "x", tmp_path / "b.pcap"]).names == (os.path.join("a", "x"), "b.pcap")


def test_the_same_file_named_twice_is_read_once(tmp_path):
    piece = cut(CAPTURE, tmp_path, 20)[0]
    assert len(capture_set([piece, tmp_path / ".." / tmp_path.name / piece.name, str(tmp_path / "par*")])) == 1


@pytest.mark.parametrize("argument,says", [
    ("missing.pcap", "no such file or directory"),
    ("empty-dir", "no pcap or pcapng file"),
    ("nothing-*.pcap", "no file matches"),
])
def test_what_names_no_capture_is_a_one_line_error(tmp_path, argument, says):
    (tmp_path / "empty-dir").mkdir()
    (tmp_path / "empty-dir" / "readme.txt").write_text("hello")
    with pytest.raises(AbortscopeError, match=says):
        capture_set([tmp_path / argument])
