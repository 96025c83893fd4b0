"""The words of the issue-14 stories, on literal ladders: each claim the tool used to get wrong, now told right."""

from __future__ import annotations

import analysis
from analysis.diagnosis import Verdict
from tests.analysis.bundles import bundle
from tests.analysis.diagnosis.ladder import App, C, Call, Kernel, S, diagnose_ladder

REQUEST = (C("S"), S("SA"), C("A"), C("PA", 78))
BACKGROUND_READ = "read(4<TCP:[127.0.0.1:3000->127.0.0.1:40000]>, 0xc000090ee1, 1) = -1 ECONNRESET (Connection reset by peer)"
RESPONSE_WRITE = "write(4<TCP:[127.0.0.1:3000->127.0.0.1:40000]>, \"HTTP/1.1 200 OK\\r\\n\"..., 217) = -1 EPIPE (Broken pipe)"


def text(d) -> str:
    return "\n".join(d.sentences)


def test_ctx_aware_socket_rst_the_app_saw_it_so_nothing_was_swallowed():
    """Item 1: the handler logged context canceled after the client's RST: the app saw the client go."""
    row, d = diagnose_ladder(*REQUEST, C("R"), Call("server", "read_error", errno="ECONNRESET", detail=BACKGROUND_READ),
                             App("server", "abort", "go: context canceled", length=8061),
                             App("server", "response", "go: handler returned without writing"),
                             Call("server", "write_error", errno="EPIPE", detail=RESPONSE_WRITE))
    assert row["app_abort"] and d.verdict is Verdict.RST_BY_CLIENT_ECONNRESET
    assert d.summary == ("the client aborted with RST, and the server's calls failed: read() with ECONNRESET, "
                         "then write() with EPIPE")
    assert "The server's application noticed that the client had gone" in text(d)
    assert "never reached the application" not in text(d)


def test_ctx_aware_fin_the_late_write_is_net_http_finishing_not_the_handler():
    """Item 2: the 75 bytes after the FIN are net/http's empty response, written after the handler had returned;
    the server knew the client was gone, so no "could not tell"."""
    _, d = diagnose_ladder(*REQUEST, C("FA"), S("A"), App("server", "abort", "go: context canceled", length=8061),
                           App("server", "response", "go: handler returned without writing"),
                           Call("server", "write", 75), S("PA", 75), C("R"))
    late = next(s for s in d.sentences if s.startswith("The server wrote 75 bytes"))
    assert ": Go's net/http finishing the response after the handler had returned (the application logged " \
           "\"go: handler returned without writing\"" in late
    assert "its write() returned 75 (strace)" in late and "could not tell" not in late


def test_go_socket_rst_100_bytes_names_which_call_got_which_errno():
    """Item 4: the response write after the handler returned got EPIPE; ECONNRESET went to the background read."""
    _, d = diagnose_ladder(*REQUEST, C("R"), Call("server", "read_error", errno="ECONNRESET", detail=BACKGROUND_READ),
                           App("server", "write", length=100), App("server", "response", "go: handler returned"),
                           Call("server", "write_error", errno="EPIPE", detail=RESPONSE_WRITE))
    assert d.verdict is Verdict.ERROR_SWALLOWED_BY_APP
    swallowed = next(s for s in d.sentences if s.startswith("The error never reached the application"))
    assert "Go's net/http wrote the response after the handler had returned" in swallowed
    assert ", got EPIPE (the server's read() had got ECONNRESET" in swallowed and "got ECONNRESET, and" not in swallowed
    assert "net/http's background read, which watches the connection while the handler runs" in text(d)


def test_refused_without_the_kernel_trace_is_syn_sent_and_econnrefused():
    """Item 5: the RST to a SYN finds the socket in SYN_SENT; connect() gets ECONNREFUSED (tcp_reset())."""
    row, d = diagnose_ladder(C("S"), S("RA"))
    assert (row["reset_state"], row["reset_state_source"], row["reset_errno"]) == ("SYN_SENT", "packets", "ECONNREFUSED")
    assert ("The RST arrived while the client's socket was in SYN_SENT (inferred from the packets: no SYN-ACK before "
            "the RST): its pending connect() would fail with ECONNREFUSED (Linux's tcp_reset())") in text(d)
    assert "ESTABLISHED" not in text(d) and "ECONNRESET" not in text(d)


def test_refused_with_the_kernel_trace_cites_its_error_report():
    row, d = diagnose_ladder(C("S"), S("RA"), Kernel("client", "state", "SYN_SENT->CLOSE"),
                             Kernel("client", "sk_error", "inet_sk_error_report error=111", "ECONNREFUSED"))
    assert (row["reset_state"], row["reset_state_source"]) == ("SYN_SENT", "kernel")
    assert ("(kernel: SYN_SENT->CLOSE, error report 111 = ECONNREFUSED), so the kernel reported ECONNREFUSED to the "
            "client") in text(d)


def test_without_strace_the_errno_is_an_inference_not_an_observation():
    """Item 6: no strace: no "Why EPIPE and not ECONNRESET" as if an EPIPE had been seen."""
    _, d = diagnose_ladder(*REQUEST, C("FA"), S("PA", 4096), C("R"))
    assert "Why EPIPE" not in text(d)
    assert ("The RST arrived while the server's socket was in CLOSE_WAIT (inferred from the packets: the server had "
            "received the client's FIN): a write after this RST would fail with EPIPE (Linux's tcp_reset())") in text(d)
    assert "Without strace of the server, its calls on this connection are not observed" in text(d)


def test_a_half_close_without_strace_speaks_of_no_rst():
    """Item 6 (the lead's find): the caveat spoke of "this RST" where there was none."""
    _, d = diagnose_ladder(*REQUEST, C("FA"), S("PA", 4096), C("A"), S("FA"), C("A"))
    assert d.verdict is Verdict.HALF_CLOSE_CLEAN
    assert "this RST" not in text(d) and "Without strace of the server" in text(d)


def test_an_unrelated_applog_keeps_the_caveat():
    """Item 6: a log whose lines name no connection of the capture does not stand for the application's log."""
    seed = bundle("go-curl-8061")
    timeline = analysis.load(seed / "capture.pcap", analysis.Read(logs={"applog": bundle("go-curl-8060") / "server.log"}))
    assert "applog" in timeline.sources
    [d] = timeline.diagnose()
    assert "cannot be known without the application's log" in text(d)


def test_a_download_delivered_before_the_reset():
    """Item 8: the whole response acknowledged, then the client's RST: nothing was lost."""
    row, d = diagnose_ladder(*REQUEST, S("PA", 4096), C("A"), S("FA"), C("A"), C("R"))
    assert d.verdict is Verdict.RST_BY_CLIENT and row["delivered_before_rst"]
    assert ("The client's kernel had received everything the server had sent (all it had to send: its FIN came "
            "first): its acknowledgements, up to the RST's own, cover all of it, so none of it was lost on the wire") in text(d)


def test_a_reader_that_stopped_reading_before_it_reset():
    """Item 8: the client's window went to 0 and stayed there until its RST."""
    row, d = diagnose_ladder(*REQUEST, S("PA", 4096), C("A", win=100), S("PA", 4096), C("A", win=0),
                             S("A"), C("A", win=0), C("R"))
    assert row["zero_window_frame"] == 8
    assert "The client had stopped reading before it reset: it advertised a zero window from +0.01 s (frame 8) " \
           "until its RST, 3.0 ms later" in text(d)
