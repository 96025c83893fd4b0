"""The checkers catch false sentences: each of the claims issue 14 found false, and plain slips (a frame, a time, a
byte count), said about real bundles, is reported."""

from __future__ import annotations

from dataclasses import replace

import pytest

import analysis
from analysis.diagnosis import Clause
from tests import conftest
from tests.analysis.bundles import bundle
from tests.sentences.registry import check_diagnosis
from tests.sentences.raw import Bundle


@pytest.fixture(autouse=True)
def _tshark():
    """The oracle reads the packets with tshark."""
    conftest.require_tools("tshark")


def _diagnosis(name: str, file: str | None = None, verdict: str | None = None):
    path = bundle(name) / file if file else bundle(name)
    diagnoses = analysis.load(path).diagnose()
    return path, next(d for d in diagnoses if verdict is None or d.verdict.value == verdict)


def _saying(d, clause_id: str, text: str, replaces: str | None = None):
    """``d`` with one more sentence (one clause) saying ``text``, or with the clause ``replaces`` said so."""
    if replaces is None:
        return replace(d, sentences=(*d.sentences, text + "."), clauses=(*d.clauses, (Clause(clause_id, text),)))
    clauses = tuple(tuple(Clause(clause_id, text) if c.id == replaces else c for c in part) for part in d.clauses)
    texts = tuple("".join(c.text for c in part) for part in clauses)
    return replace(d, summary=texts[0], sentences=tuple(t + "." for t in texts[1:]), clauses=clauses)


def _false(path, d) -> str:
    return "\n".join(check_diagnosis(d, Bundle(path)).false)


def test_the_told_words_are_true():
    path, d = _diagnosis("go-ctx-aware")
    assert _false(path, d) == ""


def test_could_not_tell_after_the_app_had_logged_context_canceled():
    """Item 2's false words: the handler had noticed before net/http wrote its empty response."""
    path, d = _diagnosis("go-ctx-aware")
    d = _saying(d, "late.unaware", ", so the server could not tell the client was gone", replaces="layer.after_handler")
    assert "its application had logged 'context canceled' before" in _false(path, d)


def test_noticed_that_the_client_had_gone_when_it_had_only_half_closed():
    """Item 3's false words."""
    path, d = _diagnosis("go-ctx-aware-half-close")
    d = _saying(d, "app.noticed", 'The server\'s application noticed that the client had gone: it reported '
                '"go: context canceled" at +0.30 s', replaces="app.half_closed")
    assert "never reset: it may not have gone" in _false(path, d) or "no app.jsonl line" in _false(path, d)


def test_swallowed_econnreset_named_for_the_flush_that_got_epipe():
    """Item 4's false words: the write after the handler returned got EPIPE, not ECONNRESET."""
    path, d = _diagnosis("go-curl-8060")
    said = next(c.text for part in d.clauses for c in part if c.id == "app.library_wrote")
    d = _saying(d, "app.library_wrote", said.replace("got EPIPE", "got ECONNRESET"), replaces="app.library_wrote")
    assert "the failing write got EPIPE" in _false(path, d)


def test_the_loose_summary_of_a_client_reset():
    """Item 4: "the server got ECONNRESET" is no longer a summary any checker accepts."""
    path, d = _diagnosis("go-socket-rst")
    d = _saying(d, "summary.RST_BY_CLIENT_ECONNRESET", "the client aborted with RST; the server got ECONNRESET",
                replaces="summary.RST_BY_CLIENT_ECONNRESET")
    assert "does not read as its checker expects" in _false(path, d)


def test_a_refused_connection_was_not_established():
    """Item 5's false words."""
    path, d = _diagnosis("refused", "capture.pcap")
    d = _saying(d, "why.state", "The RST arrived while the client's socket was ESTABLISHED (inferred from the packets: "
                "no FIN from the server before its RST)")
    assert "the packets show SYN_SENT, not ESTABLISHED" in _false(path, d)


def test_why_epipe_without_strace():
    """Item 6's false words: without strace, no EPIPE was seen."""
    path, d = _diagnosis("go-curl-8061", "capture.pcap")
    d = _saying(d, "why.epipe", "Why EPIPE and not ECONNRESET: the RST arrived while the server's socket was in "
                "CLOSE_WAIT (inferred from the packets: the server had received the client's FIN); Linux reports a "
                "reset in CLOSE_WAIT as EPIPE, while a RST in ESTABLISHED gives ECONNRESET")
    assert "strace saw no EPIPE" in _false(path, d)


def test_the_upstream_connection_calls_nginx_the_client():
    """Item 7's false words: the upstream connection's client is the proxy."""
    path, d = _diagnosis("nginx-proxy-chain", verdict="ERROR_SWALLOWED_BY_APP")
    said = next(c.text for part in d.clauses for c in part if c.id == "close.fin")
    d = _saying(d, "close.fin", said.replace("The proxy", "The client"), replaces="close.fin")
    assert "'client' names no side here" in _false(path, d)


@pytest.mark.parametrize("slip, says", [
    (lambda s: s.replace("(frame 6)", "(frame 7)"), "was sent by the server, not the client"),
    (lambda s: s.replace("at +0.32 s", "at +0.35 s"), "time +0.35 s vs actual"),
])
def test_a_wrong_frame_or_time_of_the_close(slip, says):
    path, d = _diagnosis("go-curl-8061")
    said = next(c.text for part in d.clauses for c in part if c.id == "close.fin")
    assert says in _false(path, _saying(d, "close.fin", slip(said), replaces="close.fin"))


def test_wrong_bytes_and_a_reset_that_was_not_ignored():
    path, d = _diagnosis("go-curl-8061")
    said = next(c.text for part in d.clauses for c in part if c.id == "bytes.after_fin")
    found = _false(path, _saying(d, "bytes.after_fin", said.replace("4096", "4095"), replaces="bytes.after_fin"))
    assert "the server sent 4096 bytes after that FIN" in found
    state = Clause("why.state", "The RST arrived while the server's socket was in CLOSE_WAIT (kernel: CLOSE_WAIT->CLOSE, "
                                "error report 32 = EPIPE)")
    ignored = Clause("why.ignored", ": the kernel ignores a RST in that state (no error)")
    d = replace(d, sentences=(*d.sentences, state.text + ignored.text + "."), clauses=(*d.clauses, (state, ignored)))
    assert "a RST in CLOSE_WAIT is not ignored" in _false(path, d)
    alone = _saying(d, "why.ignored", ": the kernel ignores a RST in that state (no error)")
    assert "said without a why.state before it in its sentence" in _false(path, alone)


def test_a_sentence_without_a_checker_is_reported():
    path, d = _diagnosis("go-curl-8061")
    assert "no checker for 'made.up'" in _false(path, _saying(d, "made.up", "Anything at all"))
