"""What the annotated file says, as tshark and capinfos show it: the story on the frames that prove it.

The frames are found the way a user would find them (tshark's flags and lengths, strace's timestamps),
not from abortscope's own tables; the words are the ladder's (analysis.plots.highlights.EVIDENCE_WORDS).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from abortscope.cli import app
from analysis.plots.style import badge
from tests.analysis.annotate.tshark import comments, fields, section_comments
from tests.analysis.bundles import bundle
from tests.conftest import require_tools

runner = CliRunner()


def annotate(path, out, *options):
    result = runner.invoke(app, ["annotate", str(path), "-o", str(out), *map(str, options)])
    assert result.exit_code == 0, result.output
    return result


def _epoch_ns(text: str) -> int:
    seconds, _, fraction = text.partition(".")
    return int(seconds) * 10**9 + int(fraction.ljust(9, "0")[:9])


def _story_frames(capture):
    """(the data frame after the first FIN, the first RST frame), as tshark shows the packets."""
    rows = fields(capture, "frame.number", "tcp.flags.fin", "tcp.flags.reset", "tcp.len")
    fin = next(int(n) for n, f, r, length in rows if f == "1")
    data_after_fin = next(int(n) for n, f, r, length in rows if int(n) > fin and int(length) > 0)
    rst = next(int(n) for n, f, r, length in rows if r == "1")
    return data_after_fin, rst


def _frame_before(capture, when_ns: int) -> int:
    """The last frame captured at or before ``when_ns``."""
    rows = fields(capture, "frame.number", "frame.time_epoch")
    return max(int(n) for n, t in rows if _epoch_ns(t) <= when_ns)


def _failing_write(strace) -> tuple[int, str]:
    """(when, the line) of strace's first write that failed with EPIPE."""
    line = next(line for line in strace.read_text().splitlines() if "write(" in line and "= -1 EPIPE" in line)
    return _epoch_ns(line.split()[1]), line


def test_go_curl_8061_says_the_story_on_its_frames(tmp_path):
    """The acceptance: the data frame after the FIN, the RST frame and the frame before the failing write
    carry the words of the diagnosis and the EPIPE write."""
    require_tools("tshark")
    run = bundle("go-curl-8061")
    out = tmp_path / "annotated.pcapng"
    annotate(run, out)
    said = comments(out)
    data_after_fin, rst = _story_frames(run / "capture.pcap")
    failed_at, line = _failing_write(run / "strace.txt")
    before_write = _frame_before(run / "capture.pcap", failed_at)

    assert any(text.startswith(f"{badge(2)} server sends data after the FIN (4096 bytes, ")
               and "after the client's FIN" in text for text in said[data_after_fin])
    assert any(text.startswith(f"{badge(3)} client's kernel answers with RST")
               and "reason TCP_TIMEWAIT_SOCKET" in text for text in said[rst])
    write = [text for text in said[before_write] if text.startswith(f"{badge(4)} next write fails: EPIPE")]
    assert len(write) == 1 and "= -1 EPIPE (Broken pipe)" in write[0]
    gap_us = (failed_at - _epoch_ns(fields(run / "capture.pcap", "frame.time_epoch")[before_write - 1][0])) // 1000
    assert f"(+{gap_us} µs after this frame)" in write[0]  # strace's µs: the offset is exact
    first = said[1][0]
    assert first.startswith("abortscope: WRITE_AFTER_PEER_FIN_RST_EPIPE — the server wrote after the client's FIN, "
                            "got RST, and its next write failed with EPIPE")
    assert f"{badge(2)} frame {data_after_fin}" in first and f"{badge(3)} frame {rst}" in first
    # the events: the kernel's view of the RST and the application's error, each on the frame it follows
    assert any("state → CLOSE — CLOSE_WAIT->CLOSE" in text for text in said[rst])
    assert any("app sees the error: EPIPE" in text and "write: broken pipe" in text for text in said[before_write])


def test_no_events_keeps_the_verdict_and_its_steps_only(tmp_path):
    require_tools("tshark")
    run = bundle("go-curl-8061")
    out = tmp_path / "annotated.pcapng"
    annotate(run, out, "--no-events")
    said = [text for texts in comments(out).values() for text in texts]
    assert said[0].startswith("abortscope: WRITE_AFTER_PEER_FIN_RST_EPIPE")
    steps = said[1:]
    assert [text[0] for text in steps] == [badge(n) for n in range(len(steps))]  # ❶❷❸..., nothing else
    assert len(steps) == 6 and not any("state →" in text or "accept" in text for text in said)


def test_the_section_header_says_what_made_the_file_and_from_what(tmp_path):
    require_tools("capinfos")
    run = bundle("go-curl-8061")
    out = tmp_path / "annotated.pcapng"
    annotate(run, out)
    application, said = section_comments(out)
    assert application.startswith("abortscope ")
    assert "Annotated by abortscope" in said[0]
    for role, name in (("capture", "capture.pcap"), ("strace", "strace.txt"), ("kernel", "kernel.txt"),
                       ("app", "app.jsonl")):
        digest = hashlib.sha256((run / name).read_bytes()).hexdigest()
        assert f"Source {role}: {run.name}/{name} ({(run / name).stat().st_size:,} bytes, sha256 {digest})." in said


def test_a_pcapng_keeps_its_first_writer_and_gets_its_digest(corpus, tmp_path):
    """A copied section header keeps its own options, names the program that first wrote the capture, and
    carries the capture's sha256 (written again at the end once the digest is done)."""
    require_tools("capinfos")
    path = corpus / "zeek__ldap-modify-request-126ifaces.pcapng"
    original, _ = section_comments(path)
    out = tmp_path / "annotated.pcapng"
    annotate(path, out)
    application, said = section_comments(out)
    assert application.startswith("abortscope ")
    assert original.startswith("Mergecap") and f"The capture was first written by: {original}." in said
    assert said[0].startswith("File created by merging")  # its own comment, kept first
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert f"Source capture: {path.name} ({path.stat().st_size:,} bytes, sha256 {digest})." in said


def test_an_extract_says_so_and_names_the_original_frames(corpus, tmp_path):
    require_tools("tshark", "capinfos")
    path = corpus / "zeek__nmap-vsn.pcap"
    out = tmp_path / "refused.pcapng"
    annotate(path, out, "--verdict", "REFUSED")
    _, said = section_comments(out)
    assert any(re.match(r"An extract: the 6 connections with verdict REFUSED, 12 of the capture's [\d,]+ frames\. "
                        r"The frame numbers in the comments are the original capture's\.", text) for text in said)
    texts = [text for texts in comments(out).values() for text in texts]
    assert texts and all(re.search(r"\(frame \d+ of the original capture\)$", text) for text in texts)


@pytest.mark.parametrize("name", ["go-curl-8060", "go-half-close", "go-socket-rst", "python-socket-fin"])
def test_every_story_step_is_on_a_frame(name, tmp_path):
    """Each ❶❷… of the verdict's list is on the frame the list names (or the one its event follows)."""
    require_tools("tshark")
    out = tmp_path / "annotated.pcapng"
    annotate(bundle(name), out, "--no-events")
    said = comments(out)
    verdict = said[1][0]
    for mark, how, frame in re.findall(r"([❶-❿]) (frame|after frame) (\d+)", verdict):
        assert any(text.startswith(mark) for text in said[int(frame)]), (mark, frame, said[int(frame)])


def test_the_readmes_commands_list_the_comments(tmp_path):
    """The README's how-to, run as written (its tshark field detection included), on an annotated file."""
    require_tools("tshark", "capinfos", "bash")
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    block = re.search(r"```sh\n(field=\$\(tshark -G fields.*?)```", readme, flags=re.S).group(1)
    out = tmp_path / "story.pcapng"
    annotate(bundle("go-curl-8061"), out)
    proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("1\tabortscope: WRITE_AFTER_PEER_FIN_RST_EPIPE")
    assert any(line.split("\t")[-1].startswith(f"{badge(4)} next write fails: EPIPE") for line in lines)  # one a line
    assert "Comments (" in proc.stdout and "Capture comment:" in proc.stdout and "sha256" in proc.stdout
