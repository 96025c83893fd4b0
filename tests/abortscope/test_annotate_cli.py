"""`abortscope annotate` as a user runs it: what it writes, what it refuses, what it leaves after a failure."""

from __future__ import annotations

import hashlib
import os
import threading

import pandas as pd
import pytest
from typer.testing import CliRunner

import analysis.annotate.provenance as provenance
import analysis.annotate.write as write
from abortscope.cli import app
from tests.analysis.annotate.tshark import comments, fields, section_comments
from tests.conftest import SAMPLES, require_tools

runner = CliRunner()
CAPTURE = SAMPLES / "go-curl-8061" / "capture.pcap"


def run(*args):
    return runner.invoke(app, ["annotate", *map(str, args)])


def test_it_says_what_it_wrote_and_how_to_list_the_comments(tmp_path):
    result = run(SAMPLES / "go-curl-8061", "-o", tmp_path / "a.pcapng")
    assert result.exit_code == 0, result.output
    assert "9 of 9 frames" in result.output and "on 1 connection(s)" in result.output
    assert "sources: packets, strace, kernel, app" in " ".join(result.output.split())
    assert "tshark -r" in result.output and "frame.comment" in result.output


@pytest.mark.parametrize("args, says", [
    (["--verdict", "NOPE"], "unknown verdict NOPE"),
    (["--flow", "a:1>b:2", "--port", "80"], "give --flow or --port, not both"),
    (["--flow", "1.2.3.4:1>5.6.7.8:2"], "no connection '1.2.3.4:1>5.6.7.8:2'"),
])  # fmt: skip
def test_bad_options_fail_in_one_line_and_write_nothing(args, says, tmp_path):
    out = tmp_path / "a.pcapng"
    result = run(CAPTURE, "-o", out, *args)
    assert result.exit_code == 1 and says in result.output
    assert not out.exists()


def test_a_missing_folder_is_said_before_reading(tmp_path):
    result = run(CAPTURE, "-o", tmp_path / "no" / "a.pcapng")
    assert result.exit_code == 1 and "no directory" in result.output


def test_it_never_writes_over_its_input(tmp_path):
    capture = tmp_path / "c.pcap"
    capture.write_bytes(CAPTURE.read_bytes())
    result = run(capture, "-o", capture)
    assert result.exit_code == 1 and "that is the capture itself" in result.output
    assert capture.read_bytes() == CAPTURE.read_bytes()


def test_it_never_follows_a_link_it_did_not_make(tmp_path):
    """As root, -o through a symbolic link (another user's trap) must not write where the link points."""
    target = tmp_path / "precious"
    target.write_text("keep me")
    link = tmp_path / "a.pcapng"
    link.symlink_to(target)
    result = run(CAPTURE, "-o", link)
    assert result.exit_code == 1 and "cannot write it" in result.output
    assert target.read_text() == "keep me"


def test_no_tcp_packet_means_nothing_to_annotate(corpus, tmp_path):
    out = tmp_path / "a.pcapng"
    result = run(corpus / "suricata__fuzz-bug-6875.pcap", "-o", out)
    assert result.exit_code == 1 and "nothing to annotate" in result.output and not out.exists()


def test_a_verdict_no_connection_has_writes_an_empty_capture_and_says_so(tmp_path):
    require_tools("tshark")
    out = tmp_path / "a.pcapng"
    result = run(CAPTURE, "-o", out, "--verdict", "REFUSED")
    assert result.exit_code == 0 and "no connection has the verdict REFUSED" in " ".join(result.output.split())
    assert fields(out) == [] and section_comments(out)[0].startswith("abortscope")


def test_an_interrupted_copy_leaves_no_half_file(tmp_path, monkeypatch):
    real = write.copy_annotated

    def interrupted(capture, fd, *args, **kwargs):
        os.write(fd, b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(write, "copy_annotated", interrupted)
    out = tmp_path / "a.pcapng"
    result = run(CAPTURE, "-o", out)
    assert result.exit_code == 130 and not out.exists()
    assert real is not write.copy_annotated
    assert not [t for t in threading.enumerate() if t.name in ("read-ahead", "sha256") or t.name.startswith("pcapng")]


@pytest.fixture
def late_digest(monkeypatch):
    """The capture's sha256 is held back until the copy has started: the copies it saw (their section argument)."""
    copying = threading.Event()
    real_sha, real_copy = provenance.sha256_of, write.copy_annotated
    seen = []

    def slow_sha(path, stop=None):
        assert copying.wait(30)
        return real_sha(path, stop)

    def copy(*args, **kwargs):
        copying.set()
        seen.append(kwargs.get("section"))
        return real_copy(*args, **kwargs)

    monkeypatch.setattr(provenance, "sha256_of", slow_sha)
    monkeypatch.setattr(write, "copy_annotated", copy)
    return seen


def test_a_digest_still_under_way_is_written_into_the_header_at_the_end(tmp_path, late_digest):
    """The copy does not wait for the capture's sha256: the section header is written again once it is known."""
    require_tools("capinfos")
    out = tmp_path / "a.pcapng"
    assert run(CAPTURE, "-o", out).exit_code == 0
    assert late_digest and late_digest[0] is not None  # the late path
    digest = hashlib.sha256(CAPTURE.read_bytes()).hexdigest()
    assert any(f"sha256 {digest}" in text for text in section_comments(out)[1])


def test_into_a_pipe_it_waits_for_the_digest(tmp_path):
    """A FIFO cannot be written again at its start: the header waits for the digest instead."""
    require_tools("tshark")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = {}

    def drain():
        with open(fifo, "rb") as f:
            got["bytes"] = f.read()

    reader = threading.Thread(target=drain)
    reader.start()
    result = run(CAPTURE, "-o", fifo)
    reader.join(30)
    assert result.exit_code == 0, result.output
    copy = tmp_path / "copy.pcapng"
    copy.write_bytes(got["bytes"])
    assert fields(copy) == fields(CAPTURE) and comments(copy)
    digest = hashlib.sha256(CAPTURE.read_bytes()).hexdigest()
    assert any(f"sha256 {digest}" in text for text in section_comments(copy)[1])


def test_a_big_file_shows_progress_and_still_writes_the_same(tmp_path, monkeypatch):
    from abortscope.commands import annotate as command

    monkeypatch.setattr(command, "BIG_FILE_BYTES", 0)  # every file counts as big
    assert run(CAPTURE, "-o", tmp_path / "a.pcapng").exit_code == 0
    monkeypatch.setattr(command, "BIG_FILE_BYTES", 1 << 40)
    assert run(CAPTURE, "-o", tmp_path / "b.pcapng").exit_code == 0
    assert (tmp_path / "a.pcapng").read_bytes() == (tmp_path / "b.pcapng").read_bytes()


def test_the_round_trip_gives_the_same_connection_table(tmp_path):
    """`abortscope analyze OUT.pcapng` tells the same story as the capture it came from (a bare capture: every
    column but the file names; the connections of a bundle read without its event files are the same too)."""
    for capture in (CAPTURE, SAMPLES / "go-half-close" / "capture.pcap", SAMPLES / "go-curl-ipv6" / "capture.pcap"):
        out = tmp_path / f"{capture.parent.name}.pcapng"
        assert run(capture.parent, "-o", out).exit_code == 0
        tables = []
        for path in (capture, out):
            csv = tmp_path / "table.csv"
            result = runner.invoke(app, ["analyze", str(path), "--table", "connections", "--format", "csv",
                                         "-o", str(csv)])
            assert result.exit_code == 0, result.output
            tables.append(pd.read_csv(csv).drop(columns=["first_file", "last_file"]))  # the names differ, of course
        pd.testing.assert_frame_equal(tables[1], tables[0])
        assert tables[0]["verdict"].notna().all()


def test_a_full_disk_fails_in_one_line(tmp_path):
    """/dev/full answers every write with ENOSPC, as a full disk does."""
    result = run(CAPTURE, "-o", "/dev/full")
    assert result.exit_code == 1 and "writing it failed (No space left on device)" in result.output


def test_every_section_header_gets_the_digest_when_it_comes_late(tmp_path, late_digest):
    """A capture of two sections: the first header is written again at the end, the second waits for the digest."""
    from tests.analysis.pcapng.test_copy import _two_sections

    capture = tmp_path / "two.pcapng"
    capture.write_bytes(_two_sections())
    out = tmp_path / "a.pcapng"
    assert run(capture, "-o", out).exit_code == 0
    written = out.read_bytes()
    digest = hashlib.sha256(capture.read_bytes()).hexdigest().encode()
    assert written.count(digest) == 2 and provenance.PENDING.encode() not in written
