"""Capture and analysis read one table per contract: what the recorders record is what the parsers read."""

from __future__ import annotations

from analysis.events.kernel import TRACEPOINTS
from capture.recorders.tracefs import EVENTS, PORT_FILTER, SERVER_THREADS, keep_lines


def test_the_recorder_traces_exactly_the_analyzers_tracepoints_each_kept_by_how_it_names_its_connection():
    assert list(EVENTS) == list(TRACEPOINTS)
    assert {name: (k.system, k.kernel_filter, k.instance, k.by_printed_port) for name, k in EVENTS.items()} == {
        "inet_sock_set_state": ("sock", PORT_FILTER, "connections", False),
        "tcp_send_reset": ("tcp", None, "connections", True),
        "tcp_receive_reset": ("tcp", PORT_FILTER, "connections", False),
        "inet_sk_error_report": ("sock", PORT_FILTER, "connections", False),
        "sock_send_length": ("sock", "protocol == 6", SERVER_THREADS, False),
    }


def test_resets_of_other_ports_are_dropped_by_their_printed_addresses():
    line = ("  gosrv-7201    [001] .....  2801.230766: tcp_send_reset: skbaddr=0x1 skaddr=0x2 "
            "src=127.0.0.1:{a} dest=127.0.0.1:{b} state=TCP_TIME_WAIT reason=TCP_TIMEWAIT_SOCKET")
    text = "\n".join([line.format(a=51850, b=3917), line.format(a=40000, b=5000)])
    kept, dropped = keep_lines(text, 3917)
    assert [ts for ts, _ in kept] == [2801.230766] and dropped == 1


def test_strace_is_asked_for_the_parsers_syscalls_sendfile_included():
    from analysis.events.strace import SYSCALL_KINDS
    from capture.recorders.strace import strace_argv

    argv = strace_argv(1, "out")
    traced = argv[argv.index("-e") + 1].removeprefix("trace=").split(",")
    assert set(traced) <= set(SYSCALL_KINDS)
    assert set(traced) == {"write", "writev", "sendto", "sendmsg", "sendfile", "read", "readv", "recvfrom",
                           "recvmsg", "accept", "accept4", "close", "shutdown"}


def test_the_servers_stdlib_copy_of_the_app_jsonl_keys_is_the_analyzers():
    from analysis.events import app_jsonl
    from capture import app_line

    assert app_line.KEYS == tuple(app_jsonl.KEYS)


def test_the_go_and_node_servers_write_the_same_app_jsonl_keys():
    import re
    from pathlib import Path

    from analysis.events import app_jsonl

    go = (Path(__file__).parents[2] / "capture/servers/go/main.go").read_text()
    assert re.findall(r'`json:"(\w+)"`', go)[:len(app_jsonl.KEYS)] == list(app_jsonl.KEYS)
    node = (Path(__file__).parents[2] / "capture/servers/node_http.js").read_text()
    line = node[node.index("{ ts_ns:"):node.index("}", node.index("{ ts_ns:"))]
    assert re.findall(r"(?:^|[{,])\s*(\w+)(?=\s*[:,])", line) == list(app_jsonl.KEYS)


def test_every_phase_of_a_run_has_its_words_in_the_cli():
    from abortscope.commands.run import PHASE_TEXT
    from capture.phases import Phase

    assert list(PHASE_TEXT) == list(Phase)


def test_every_phase_of_a_recording_has_its_words_in_the_cli():
    from abortscope.commands.record import PHASE_TEXT
    from capture.phases import RecordPhase

    assert list(PHASE_TEXT) == list(RecordPhase)


def test_one_options_value_gives_each_servers_argv_the_sweep_label_and_the_refusal():
    from capture.scenario import ScenarioParams
    from capture.server_options import ServerOptions, asked, parse_label
    from capture.servers import SERVERS
    from capture.sweep.probe import ProbeSpec

    options = ServerOptions(content_length=True, sndbuf=4096)
    assert options.server_argv("go") == ["-content-length", "-sndbuf", "4096"]
    assert ServerOptions(write_size=1024, stop_on_error=True).server_argv("python-raw") == [
        "--write-size", "1024", "--stop-on-error"]
    assert ServerOptions(ctx_aware=True).server_argv("node") == ["--ctx-aware"]
    assert options.problem("go") is None
    assert options.problem("node") == "the node server does not support --sndbuf (go, python-raw only)"
    assert ServerOptions(write_size=0).problem("python-raw") == "--write-size must be >= 1"
    label = ProbeSpec(server="python-raw", write_size=65536, sndbuf=4096).label()
    assert label == "python-raw -write-size 65536 -sndbuf 4096"
    assert parse_label(label) == ("python-raw", {"write_size": 65536, "sndbuf": 4096})
    assert asked(ScenarioParams(flush=True)) == ServerOptions(flush=True)
    assert SERVERS["go"].options == {"content_length", "ctx_aware", "flush", "sndbuf"}


def test_tools_are_declared_on_the_server_and_client_entries():
    from capture.scenario import ScenarioParams
    from capture.sweep.matrix import parse_server, required_tools
    from capture.sweep.probe import ProbeSpec

    assert ScenarioParams(server="node", client="browser").required_tools() == ["tcpdump", "strace", "node", "chromium"]
    assert ScenarioParams(server="python", client="socket-fin", strace=False).required_tools() == ["tcpdump"]
    rows = [parse_server("go"), parse_server("python-raw -write-size 1024")]
    assert required_tools(rows, ["curl", "browser-close"], ProbeSpec(), matrix=True) == [
        "tcpdump", "strace", "go", "curl", "chromium"]
