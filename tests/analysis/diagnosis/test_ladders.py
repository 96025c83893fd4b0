"""One literal ladder per verdict: the packets and events of the story in, the verdict, evidence and words out."""

from __future__ import annotations

from analysis.diagnosis import Verdict
from tests.analysis.diagnosis.ladder import App, C, Call, Kernel, S, diagnose_ladder

HANDSHAKE = (C("S"), S("SA"), C("A"))
REQUEST = (*HANDSHAKE, C("PA", 78))


def test_refused():
    row, d = diagnose_ladder(C("S"), S("RA"))
    assert d.verdict is Verdict.REFUSED and row["conn_state"] == "REJ"
    assert "nothing accepted the connection" in d.sentences[0]


def test_write_after_peer_fin_rst_epipe_the_seed_story():
    row, d = diagnose_ladder(
        *REQUEST, C("FA"), S("A"),
        Call("server", "write", 4096), S("PA", 4096),
        C("R"), Kernel("client", "rst_sent", "tcp_send_reset reason=TCP_TIMEWAIT_SOCKET state=TIME_WAIT"),
        Kernel("server", "state", "CLOSE_WAIT->CLOSE"),
        Call("server", "write_error", errno="EPIPE"), App("server", "write_error", "write: broken pipe", "EPIPE"))
    assert d.verdict is Verdict.WRITE_AFTER_PEER_FIN_RST_EPIPE
    assert (row["closer"], row["writer"], row["first_fin_frame"], row["data_after_fin_frame"], row["rst_answer_frame"]) \
        == ("client", "server", 5, 7, 8)
    assert (row["rst_reason"], row["state_at_rst"], row["syscall_error_errno"], row["bytes_after_close"]) \
        == ("TCP_TIMEWAIT_SOCKET", "CLOSE_WAIT", "EPIPE", 4096)
    text = "\n".join(d.sentences)
    assert "its write() returned 4096 (strace), so the server could not tell the client was gone" in text
    assert "Why EPIPE and not ECONNRESET" in text and "The error reached the application" in text


def test_error_swallowed_by_app():
    row, d = diagnose_ladder(*REQUEST, C("FA"), App("server", "write", length=8060), Call("server", "write", 4096),
                             S("PA", 4096), C("R"), Call("server", "write_error", errno="EPIPE"))
    assert d.verdict is Verdict.ERROR_SWALLOWED_BY_APP and row["app_write_len"] == 8060
    assert "The error never reached the application" in " ".join(d.sentences)


def test_rst_by_client_econnreset():
    row, d = diagnose_ladder(*REQUEST, C("R"), Call("server", "read_error", errno="ECONNRESET"),
                             Call("server", "write_error", errno="EPIPE"))
    assert d.verdict is Verdict.RST_BY_CLIENT_ECONNRESET
    assert (row["syscall_error_kind"], row["syscall_error_errno"], row["write_error_errno"]) == \
        ("read_error", "ECONNRESET", "EPIPE")


def test_write_after_peer_fin_rst_on_the_wire_alone():
    row, d = diagnose_ladder(*REQUEST, C("FA"), S("PA", 4096), C("R"))
    assert d.verdict is Verdict.WRITE_AFTER_PEER_FIN_RST and row["unacked_at_rst_bytes"] == 4096
    assert "Without strace" in d.sentences[-1]


def test_rst_by_client():
    row, d = diagnose_ladder(*REQUEST, C("R"))
    assert d.verdict is Verdict.RST_BY_CLIENT and row["client_abort"] and row["conn_state"] == "RSTO"


def test_rst_by_server():
    row, d = diagnose_ladder(*REQUEST, S("RA"))
    assert d.verdict is Verdict.RST_BY_SERVER and row["server_abort"] and row["conn_state"] == "RSTR"


def test_app_error_without_syscall_error():
    row, d = diagnose_ladder(*REQUEST, C("FA"), S("FA"), Call("server", "read", 0),
                             App("server", "write_error", "Cannot call write after a stream was destroyed"))
    assert d.verdict is Verdict.APP_ERROR_WITHOUT_SYSCALL_ERROR
    assert "no syscall failed (strace)" in " ".join(d.sentences)


def test_half_close_clean():
    row, d = diagnose_ladder(*REQUEST, C("FA"), S("PA", 4096), C("A"), S("FA"), C("A"))
    assert d.verdict is Verdict.HALF_CLOSE_CLEAN and row["half_close_by"] == "client"
    assert any(s.endswith("no RST, no error.") for s in d.sentences)


def test_half_close_response_cut():
    """The client only half-closed; the ctx-aware handler took the FIN for the client going away and net/http sent
    an empty 200 instead of the body: a loss for the client, not a clean half-close."""
    row, d = diagnose_ladder(*REQUEST, C("FA"), S("A"),
                             App("server", "abort", "go: context canceled", length=8061),
                             App("server", "response", "go: handler returned without writing"),
                             Call("server", "write", 75), S("PA", 75), C("A"), S("FA"), C("A"))
    assert d.verdict is Verdict.HALF_CLOSE_RESPONSE_CUT and row["response_cut"] and row["app_abort_len"] == 8061
    text = "\n".join(d.sentences)
    assert "took the client's FIN for the client going away" in text and "skipped its 8061-byte body" in text
    assert "got 75 bytes in all from the server, fewer than the 8061-byte body" in text
    assert "noticed that the client had gone" not in text


def test_closed_before_response():
    """The client's FIN while its request was pending, the server's FIN without a byte of response (nginx after a
    client abort): not a normal close."""
    row, d = diagnose_ladder(*REQUEST, C("FA"), S("FA"), C("A"))
    assert d.verdict is Verdict.CLOSED_BEFORE_RESPONSE and row["unanswered"]
    assert "The server sent no response to the client's 78-byte request; it closed too" in "\n".join(d.sentences)


def test_normal_close():
    row, d = diagnose_ladder(*REQUEST, S("PA", 100), C("FA"), S("FA"), C("A"))
    assert d.verdict is Verdict.NORMAL_CLOSE and row["both_fin"] and not row["any_rst"]


def test_rst_after_close():
    # both closed, then a stray RST: no late data for it to answer, no abort before a FIN
    row, d = diagnose_ladder(*REQUEST, S("PA", 100), C("FA"), S("FA"), C("R"))
    assert d.verdict is Verdict.RST_AFTER_CLOSE
    assert row["rst_frame_client"] > row["fin_frame_client"]


def test_one_sided_close():
    row, d = diagnose_ladder(*REQUEST, S("PA", 100), S("FA"))
    assert d.verdict is Verdict.ONE_SIDED_CLOSE and row["closer"] == "server"
    assert "Only the server sent FIN" in d.sentences[-1]


def test_open():
    row, d = diagnose_ladder(*REQUEST, S("PA", 100))
    assert d.verdict is Verdict.OPEN and "still open" in d.summary


def test_every_verdict_has_its_ladder():
    names = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    covered = {v for v in Verdict if any(v.value.lower() in name for name in names)}
    covered.add(Verdict.WRITE_AFTER_PEER_FIN_RST_EPIPE)  # "the seed story"
    assert covered == set(Verdict)
