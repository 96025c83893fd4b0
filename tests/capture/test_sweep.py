"""The sweep: the threshold search on literal answers, then real sweeps on loopback.

The real runs (root) are the issue's acceptance: go + curl has its threshold
at N=8061 body bytes (8193 on the wire), confirmed at 8060/8061; socket-rst
lowers it; half-close never errs; python errs at every size; node fails
without a write syscall; and a reduced matrix with the browser produces
the markdown table. Ranges are narrow so each sweep stays a few probes.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from capture.sweep.bisect import Outcome, Threshold, cut_points, search
from capture.sweep.facts import ProbeFacts
from capture.sweep.matrix import SweepRow, estimated_probes, parse_server
from capture.sweep.probe import ProbeSpec
from capture.sweep.report import CSV_COLUMNS, cell, knob_table, markdown_table, sndbuf_lines, write_csv
from capture.sweep.wire import parse_head
from tests import conftest
from tests.capture.sweep_literals import literal_bundle, run_search

GO_HEAD = (b"HTTP/1.1 200 OK\r\nDate: Mon, 23 Nov 2026 22:41:21 GMT\r\nContent-Type: application/octet-stream\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n1f7d\r\n\0\0\0\0")  # fmt: skip


# --- the search, on literal answers -------------------------------------------------------


@pytest.mark.parametrize("fanout", [1, 2, 3])
def test_search_finds_the_first_erring_size_and_confirms_it(fanout):
    result, asked = run_search(7000, 9000, lambda n: n >= 8061, fanout=fanout)
    assert (result.outcome, result.threshold, result.confirmed) == (Outcome.THRESHOLD, 8061, True)
    assert asked[0] == [7000, 9000]
    assert asked[-1] == [8060, 8061]  # the fresh confirmation runs
    assert (result.below.size, result.below.app_error, result.at.size, result.at.app_error) == (8060, False, 8061, True)
    assert all(len(batch) <= max(2, fanout) for batch in asked)


def test_search_rows_can_be_always_or_never():
    always, asked = run_search(1, 16384, lambda n: True)
    assert (always.outcome, always.threshold, always.label) == (Outcome.ALWAYS, 1, "always (>= 1)")
    assert asked == [[1, 16384]]
    never, _ = run_search(1, 16384, lambda n: False)
    assert (never.outcome, never.threshold, never.label) == (Outcome.NEVER, None, "never (<= 16384)")


def test_a_confirmation_that_disagrees_is_searched_again_not_hidden():
    calls = {"n": 0}

    def flaky(n: int) -> bool:  # the first answer at 8061 is wrong once (a late RST, say)
        if n == 8061:
            calls["n"] += 1
            return calls["n"] > 2
        return n >= 8061

    result, _ = run_search(7000, 9000, flaky)
    assert result.outcome in (Outcome.THRESHOLD, Outcome.UNSTABLE)
    assert result.threshold in (8061, 8062)
    if result.outcome is Outcome.THRESHOLD:
        assert result.confirmed and not result.below.app_error and result.at.app_error


def test_cut_points_split_the_open_interval_evenly():
    assert cut_points(0, 10, 1) == [5]
    assert cut_points(0, 9, 2) == [3, 6]
    assert cut_points(5, 7, 3) == [6]
    assert estimated_probes(7000, 9000) == 2 + 11 + 2


def test_a_bad_range_is_refused():
    with pytest.raises(ValueError):
        next(search(10, 5))


# --- wire bytes, labels, cells, tables ------------------------------------------------------


def test_the_go_head_makes_8061_body_bytes_8193_on_the_wire():
    head = parse_head(GO_HEAD)
    assert (head.head_bytes, head.chunked, head.chunk_line_bytes) == (124, True, 6)
    assert head.wire_bytes(8061) == 8193  # 124 + "1f7d\r\n" + 8061 + "\r\n"
    plain = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 8061\r\n\r\n")
    assert (plain.chunked, plain.wire_bytes(8061)) == (False, 41 + 8061)
    assert parse_head(b"\0\0 not http") is None


def test_server_labels_parse_to_options():
    assert parse_server("python-raw -write-size 1024").options == (("write_size", 1024),)
    assert parse_server("go -content-length").spec(ProbeSpec(), "curl").content_length
    assert ProbeSpec(server="go", ctx_aware=True).label() == "go -ctx-aware"
    assert parse_server("python-raw -write-size 65536 -sndbuf 4096").options == (("write_size", 65536), ("sndbuf", 4096))
    assert ProbeSpec(server="go", sndbuf=4096).label() == "go -sndbuf 4096"
    with pytest.raises(ValueError):
        parse_server("go -bogus")


def _row(server: str, client: str, result: Threshold, **facts) -> SweepRow:
    return SweepRow(server, client, ProbeSpec(), result)


def test_cells_say_threshold_always_never_and_why(tmp_path):
    node = ProbeFacts(size=1, app_error=True, app_error_text="Cannot call write after a stream was destroyed")
    python = ProbeFacts(size=1, app_error=True, app_errno="EPIPE", write_syscalls=2, first_write_errno="EPIPE")
    ctx = ProbeFacts(size=9000, app_error=False, write_syscalls=0)
    rows = [
        _row("node", "curl", Threshold(Outcome.ALWAYS, 1, 9000, threshold=1, at=node)),
        _row("python", "curl", Threshold(Outcome.ALWAYS, 1, 9000, threshold=1, at=python)),
        _row("go -ctx-aware", "curl", Threshold(Outcome.NEVER, 1, 9000, at=ctx)),
        _row("go", "curl", Threshold(Outcome.THRESHOLD, 1, 9000, threshold=8061, confirmed=True)),
    ]
    assert [cell(r) for r in rows] == ["always (no write)", "always (EPIPE)", "never (no write)", "8061"]
    table = markdown_table(rows).splitlines()
    assert table[0] == "| server \\ client | curl |"
    assert "| `node` | always (no write) |" in table
    with open(write_csv(rows, tmp_path / "s.csv")) as f:
        lines = list(csv.DictReader(f))
    assert list(lines[0]) == list(CSV_COLUMNS) and lines[3]["threshold_body_bytes"] == "8061"


# --- real sweeps (root) ------------------------------------------------------------------------

SWEEP_TOOLS = ("go", "curl", "tcpdump", "strace")


def _sweep(tmp_path: Path, server: str, client: str, lo: int, hi: int, **spec) -> SweepRow:
    from capture.sweep.matrix import run_sweep

    conftest.require_root()
    conftest.require_tools(*SWEEP_TOOLS)
    return run_sweep(ProbeSpec(server=server, client=client, **spec), lo, hi, tmp_path / "sweep")


@pytest.mark.root
@pytest.mark.slow
def test_go_curl_threshold_is_8061_body_bytes_8193_on_the_wire(tmp_path):
    row = _sweep(tmp_path, "go", "curl", 7000, 9000)
    result = row.result
    assert (result.outcome, result.threshold, result.confirmed) == (Outcome.THRESHOLD, 8061, True)
    assert row.wire_threshold == 8193 and row.head.chunked
    below, at = result.below, result.at
    assert (below.size, at.size) == (8060, 8061)
    # N=8061: the handler got the broken pipe from its second write, while it was writing
    assert at.app_error and "broken pipe" in at.app_error_text and at.app_errno == "EPIPE"
    assert at.peer_close == "FIN" and at.client_rst
    assert at.writes_after_peer_close == ("4096=4096", "4096=EPIPE") and at.failed_write_in_handler
    assert at.bytes_before_error == 4096
    # N=8060: the same EPIPE at the syscall level, after the handler returned: net/http swallowed it
    assert not below.app_error and below.first_write_errno == "EPIPE" and below.failed_write_in_handler is False


@pytest.mark.root
@pytest.mark.slow
def test_socket_rst_lowers_the_go_threshold_the_first_write_fails(tmp_path):
    row = _sweep(tmp_path, "go", "socket-rst", 3000, 8061)
    result, at = row.result, row.result.at
    assert result.outcome is Outcome.THRESHOLD and result.confirmed
    assert result.threshold < 8061
    assert at.peer_close == "RST"
    assert "ECONNRESET" in at.read_errnos  # net/http's background read consumed the reset
    assert at.writes_after_peer_close[0].endswith("=EPIPE")  # so the very first write fails
    assert at.bytes_before_error == 0 and at.app_error


@pytest.mark.root
@pytest.mark.slow
def test_half_close_never_errs(tmp_path):
    row = _sweep(tmp_path, "go", "half-close", 1, 20000)
    assert row.result.outcome is Outcome.NEVER
    at = row.result.at
    assert not at.app_error and at.syscall_errnos == () and at.peer_close == "FIN" and not at.client_rst
    assert at.server_wire_bytes > 20000  # the whole response went out


@pytest.mark.root
@pytest.mark.slow
def test_python_errs_at_every_non_empty_body(tmp_path):
    row = _sweep(tmp_path, "python", "curl", 1, 20000)
    assert row.result.outcome is Outcome.ALWAYS and row.result.threshold == 1
    at = row.result.at
    assert at.app_error and at.app_errno in ("EPIPE", "ECONNRESET") and at.write_syscalls >= 1


@pytest.mark.root
@pytest.mark.slow
def test_node_destroys_the_response_without_a_write_syscall(tmp_path):
    conftest.require_tools("node")
    row = _sweep(tmp_path, "node", "curl", 1, 20000)
    assert row.result.outcome is Outcome.ALWAYS
    for probe in row.result.probes:
        assert probe.app_error and probe.app_errno is None  # ERR_STREAM_DESTROYED: never reached the kernel
        assert probe.write_syscalls == 0 and probe.server_wire_bytes == 0
    assert cell(row) == "always (no write)"


@pytest.mark.root
@pytest.mark.slow
def test_reduced_matrix_with_the_browser_writes_the_table_csv_and_plot(tmp_path):
    from capture.sweep.matrix import parse_server, run_matrix
    from capture.sweep.outputs import write_outputs

    conftest.require_root()
    conftest.require_tools(*SWEEP_TOOLS, "node", "chromium")
    servers = [parse_server(s) for s in ("go", "python", "node")]
    seen = []
    rows = run_matrix(servers, ["curl", "half-close", "browser"], lo=8000, hi=8100, out_dir=tmp_path / "m",
                      knobs=False, on_probe=lambda job, facts: seen.append(job.key))  # fmt: skip
    by = {(r.server, r.client): r for r in rows}
    assert len(rows) == 9 and len(set(seen)) == 9
    assert by["go", "curl"].result.threshold == 8061
    # the browser aborts its fetch with a FIN like curl: the same threshold, measured
    browser = by["go", "browser"].result
    assert browser.outcome is Outcome.THRESHOLD and browser.at.peer_close == "FIN"
    assert abs(browser.threshold - 8061) <= 2
    assert by["go", "half-close"].result.outcome is Outcome.NEVER
    assert all(by["python", c].result.outcome is Outcome.ALWAYS for c in ("curl", "browser"))
    assert by["node", "curl"].result.outcome is Outcome.ALWAYS
    paths = write_outputs(rows, tmp_path / "m")
    table = paths["markdown"].read_text()
    assert "| server \\ client | curl | half-close | browser |" in table
    assert "| `go` | 8061 (8193 wire) |" in table
    assert paths["plot"].stat().st_size > 10_000
    assert len(paths["csv"].read_text().splitlines()) == 10


# --- the command line ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--host", "10.0.0.1"], "loopback only"),
        (["--min", "10", "--max", "5"], "is below --min"),
        (["--matrix", "--servers", "go -bogus"], "unknown server option"),
        (["--server", "apache"], "unknown server 'apache'"),
        (["--matrix", "--clients", "curl,wget"], "unknown client 'wget'"),
    ],
)
def test_sweep_command_refuses_bad_input_in_one_line(tmp_path, args, says):
    from typer.testing import CliRunner

    from abortscope.cli import app

    result = CliRunner().invoke(app, ["sweep", "--out", str(tmp_path / "s"), *args])
    assert result.exit_code == 2
    assert says in result.output.replace("\n", " ")
    assert not (tmp_path / "s").exists()


# --- facts from a literal bundle (the seed run's lines, trimmed) ---------------------------------

def test_facts_of_the_seed_bundle_say_which_write_failed_and_when(tmp_path):
    from capture.sweep.facts import read_facts

    facts = read_facts(literal_bundle(tmp_path / "b"))
    assert facts.size == 8061 and facts.app_error and facts.app_errno == "EPIPE"
    assert facts.syscall_errnos == ("EPIPE",) and facts.read_errnos == ()  # EAGAIN is not an error
    assert facts.write_syscalls == 2  # the app.jsonl write on fd 1 is not a TCP write
    assert facts.writes_after_peer_close == ("4096=4096", "4096=EPIPE")
    assert (facts.peer_close, facts.client_rst, facts.server_wire_bytes) == ("FIN", True, 4096)
    assert facts.bytes_before_error == 4096 and facts.failed_write_in_handler is True


def test_facts_refuse_a_directory_that_is_no_bundle(tmp_path):
    from analysis.errors import BundleError
    from capture.sweep.facts import read_facts

    with pytest.raises(BundleError):
        read_facts(tmp_path)


@pytest.mark.root
@pytest.mark.slow
def test_sweep_command_prints_the_threshold_in_body_and_wire_bytes(tmp_path):
    from typer.testing import CliRunner

    from abortscope.cli import app

    conftest.require_root()
    conftest.require_tools(*SWEEP_TOOLS)
    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["sweep", "--server", "go", "--client", "curl", "--min", "8000", "--max", "8100",
                                      "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "threshold N = 8061 body bytes = 8193 bytes on the wire" in text
    assert "confirmed by fresh runs at 8060 and 8061" in text
    assert "the threshold is the first size that needs write number 2 while the handler is still writing" in text
    assert {p.name for p in out.iterdir()} >= {"sweep.csv", "sweep.md", "sweep.txt", "sweep.png"}


@pytest.mark.root
@pytest.mark.slow
def test_a_small_sndbuf_moves_the_python_raw_threshold_and_the_report_says_why(tmp_path):
    """python-raw -write-size 65536 + socket-fin: by default the first 65536-byte send is accepted whole
    (no error up to 32700); with SO_SNDBUF 4096 it returns after 32768 bytes, and the next send fails."""
    default = _sweep(tmp_path / "default", "python-raw", "socket-fin", 32600, 32700, write_size=65536)
    small = _sweep(tmp_path / "small", "python-raw", "socket-fin", 32600, 32700, write_size=65536, sndbuf=4096)
    assert default.result.outcome is Outcome.NEVER and default.sndbuf_effective > 8192  # the kernel default, read back
    assert small.result.outcome is Outcome.THRESHOLD and small.result.confirmed
    assert small.sndbuf_effective == 8192 and small.wire_threshold == 32769  # one byte past the partial send
    # the whole response (32769 bytes) in one send: 32768 accepted, then the last byte fails
    assert small.result.at.writes_after_peer_close == ("32769=32768", "1=EPIPE")
    [line] = sndbuf_lines([default, small])
    assert "the threshold moved" in line and "partial send" in line and "4096 (8192 effective)" in line
    assert "| SO_SNDBUF |" not in knob_table([default, small])  # no knob rows: nothing in the knob table
