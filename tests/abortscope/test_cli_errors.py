"""Bad input through the real CLI (issue 13, items 1 and 2): a one-line error or a warning, never a traceback.

Everything broken here is made by the test: a meta.json that is binary, a
list, or has a bad clock; a capture that gives an I/O error (a link to
/proc/self/mem) or that the user may not read (a real unprivileged user,
via setpriv, when the suite runs as root); a folder that does not exist or
may not be written; a --tz that names no zone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from abortscope.cli import app
from tests.conftest import REPO, SAMPLES

BUNDLE = SAMPLES / "go-curl-8061"
NOBODY = 65534
runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, words: str) -> None:
    """Exit 1, no traceback, and exactly one line that says what is wrong (warnings aside)."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    said = [line for line in result.output.splitlines() if line.strip() and not line.startswith("warning:")]
    assert len(said) == 1 and said[0].startswith("abortscope: ") and words in said[0], result.output


@pytest.fixture
def bundle(tmp_path) -> Path:
    copy = tmp_path / BUNDLE.name
    shutil.copytree(BUNDLE, copy)
    return copy


@pytest.mark.parametrize(("meta", "words"), [
    (b"\xff\xfe\x00binary\x89", "unreadable meta.json"),
    (b"[1, 2, 3]", "meta.json holds list, not a JSON object"),
    (json.dumps({"clocks": {"trace_to_realtime_ns": "abc"}}).encode(), "clocks.trace_to_realtime_ns is 'abc'"),
    (json.dumps({"clocks": {"trace_to_realtime_ns": [1]}, "scenario": "x"}).encode(), "scenario is str, not an object"),
])
@pytest.mark.parametrize("command", ["analyze", "plot"])
def test_a_damaged_meta_json_is_a_warning_and_the_rest_is_read(bundle, tmp_path, meta, words, command):
    (bundle / "meta.json").write_bytes(meta)
    result = cli(command, bundle, "-o", tmp_path / "out.svg") if command == "plot" else cli(command, bundle)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert any(line.startswith("warning:") and words in line for line in result.output.splitlines()), result.output
    if command == "analyze":
        assert "WRITE_AFTER_PEER_FIN_RST_EPIPE" in result.output  # the capture, strace and app.jsonl still tell it


@pytest.mark.parametrize("engine", ["fast", "scapy", "pyshark"])
@pytest.mark.parametrize("where", ["bundle", "file"])
def test_a_capture_that_gives_an_io_error_is_one_line(bundle, tmp_path, engine, where):
    capture = bundle / "capture.pcap" if where == "bundle" else tmp_path / "capture.pcap"
    capture.unlink(missing_ok=True)
    capture.symlink_to("/proc/self/mem")  # a regular file whose read fails with EIO
    result = cli("analyze", bundle if where == "bundle" else capture, "--engine", engine)
    assert_one_line_error(result, f"{capture}: cannot read the capture file: Input/output error")


def _unprivileged(scratch: Path, *command: str) -> subprocess.CompletedProcess:
    """Run the CLI as a user without privileges: nobody (via setpriv) when we are root, else ourselves."""
    prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"] if os.geteuid() == 0 else []
    matplotlib_home = scratch / "matplotlib"  # nobody has no home for matplotlib's cache
    matplotlib_home.mkdir(mode=0o777, exist_ok=True)
    matplotlib_home.chmod(0o777)
    env = {**os.environ, "HOME": "/nonexistent", "MPLCONFIGDIR": str(matplotlib_home)}
    return subprocess.run([*prefix, sys.executable, "-m", "abortscope", *command], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=120)


@pytest.fixture
def shared_dir():
    """A folder an unprivileged user may enter (tmp_path's parents are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="abortscope-13-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def _assert_one_line_from_process(proc: subprocess.CompletedProcess, words: str) -> None:
    said = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("warning:")]
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert len(said) == 1 and said[0].startswith("abortscope: ") and words in said[0], proc.stderr


def test_a_capture_the_user_may_not_read_is_one_line(shared_dir):
    if shutil.which("setpriv") is None and os.geteuid() == 0:
        pytest.fail("setpriv (util-linux) is needed to drop to an unprivileged user")
    bundle = shared_dir / "run"
    shutil.copytree(BUNDLE, bundle)
    for path in (bundle, *bundle.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    (bundle / "capture.pcap").chmod(0o000 if os.geteuid() else 0o600)
    _assert_one_line_from_process(_unprivileged(shared_dir, "analyze", str(bundle)),
                                  "capture.pcap: cannot read the capture file: Permission denied")


def test_plot_into_a_folder_that_is_missing_or_may_not_be_written_is_one_line(bundle, shared_dir, tmp_path):
    assert_one_line_error(cli("plot", bundle, "-o", tmp_path / "no" / "such" / "ladder.svg"), "no directory")
    (tmp_path / "taken.svg").mkdir()
    assert_one_line_error(cli("plot", bundle, "-o", tmp_path / "taken.svg"), "cannot write the image (Is a directory)")
    readable = shared_dir / "run"
    shutil.copytree(BUNDLE, readable)
    for path in (readable, *readable.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    locked = shared_dir / "locked"
    locked.mkdir(mode=0o555)
    proc = _unprivileged(shared_dir, "plot", str(readable), "-o", str(locked / "ladder.svg"))
    _assert_one_line_from_process(proc, f"{locked / 'ladder.svg'}: cannot write the image (Permission denied)")


def test_a_tz_that_names_no_zone_is_one_line(bundle):
    result = cli("analyze", bundle, "--applog", bundle / "server.log", "--tz", "Mars/Olympus_Mons")
    assert_one_line_error(result, "--tz 'Mars/Olympus_Mons': no such time zone")


@pytest.mark.parametrize("name", ["ngnix", "pattern", "strace"])
def test_an_applog_format_analyze_cannot_read_is_one_line_before_the_capture_is_read(bundle, name, monkeypatch):
    from analysis import api

    monkeypatch.setattr(api, "report", lambda *a, **k: pytest.fail("the capture was read first"))
    result = cli("analyze", bundle, "--applog", bundle / "server.log", "--applog-format", name)
    assert_one_line_error(result, f"--applog-format {name!r}: choose one of applog, jsonl, nginx")


def test_the_text_report_goes_to_the_file_given_with_o(bundle, tmp_path):
    report = tmp_path / "report.txt"
    result = cli("analyze", bundle, "-o", report)
    assert result.exit_code == 0, result.output
    text = report.read_text()
    assert "WRITE_AFTER_PEER_FIN_RST_EPIPE" in text and "Why EPIPE and not ECONNRESET" in text
    assert "\x1b[" not in text  # plain text, no terminal colour codes
    assert "WRITE_AFTER_PEER_FIN_RST_EPIPE" not in result.output  # on the terminal: nothing but warnings
    (tmp_path / "taken").mkdir()
    assert_one_line_error(cli("analyze", bundle, "-o", tmp_path / "taken"), "cannot write the report (Is a directory)")
