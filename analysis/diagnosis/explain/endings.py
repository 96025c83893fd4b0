"""The quieter endings: a half-close (that worked, or whose response was cut), an unanswered request, a normal
close, one side's close, a connection still open."""

from __future__ import annotations

from analysis.diagnosis.evidence import Label
from analysis.diagnosis.explain.words import Phrases, Sentence, frame, sentence, time_rel
from analysis.diagnosis.findings import Findings, optional
from analysis.diagnosis.verdicts import Verdict

TEMPLATES: dict[str, str] = {
    "half.clean": "The {closer} only half-closed: it acknowledged the {writer}'s {n} bytes sent after its FIN "
                  "({frame} at {t})",
    "half.cut": "The {closer} only half-closed and kept reading, but got {sent} bytes in all from the {writer}{short}: "
                "it acknowledged them ({frame} at {t})",
    "half.writer_fin": ", and the {writer} closed too at {t} ({frame})",
    "half.no_error": "; no RST, no error",
    "half.no_rst": "; no RST",
    "end.unanswered": "The {server} sent no response to the {client}'s {n}-byte request{closed}",
    "end.normal": "Both sides closed with FIN (the {closer} first); no RST",
    "end.open": "No FIN and no RST: the connection was still open when the capture ended ({n} packets)",
    "end.one_sided": "Only the {closer} sent FIN; the capture ended before the other side closed",
}
phrase = Phrases(TEMPLATES)


def _writer_fin(f: Findings):
    fin = f.items.get(Label.WRITER_FIN)
    return phrase("half.writer_fin", writer=f.name(f.writer), t=time_rel(fin), frame=frame(fin)) if fin else None


def _half_close(f: Findings) -> Sentence | None:
    ack = f.items.get(Label.HALF_CLOSE)
    if ack is None:
        return None
    names = {"closer": f.name(f.closer), "writer": f.name(f.writer), "frame": frame(ack), "t": time_rel(ack)}
    if f.verdict is Verdict.HALF_CLOSE_CLEAN:
        return sentence(phrase("half.clean", n=f.numbers["bytes_after_gone"], **names), _writer_fin(f),
                        phrase("half.no_error"))
    sent = int(f.row[f"bytes_{f.writer}"])
    written = optional(f.row.get("app_write_len")) if optional(f.row.get("app_write_by")) == f.writer else None
    body = optional(f.row.get("app_abort_len")) or written
    short = f", fewer than the {int(body)}-byte body its application was to send" if body and sent < body else ""
    return sentence(phrase("half.cut", sent=sent, short=short, **names), _writer_fin(f), phrase("half.no_rst"))


def _unanswered(f: Findings) -> Sentence:
    fin = optional(f.row.get("fin_frame_server"))
    closed = ""
    if fin is not None:
        t = f"+{(int(f.row['fin_ts_ns_server']) - int(f.row['first_ts_ns'])) / 1e9:.2f} s"
        closed = f"; it closed too at {t} (frame {int(fin)})"
    return sentence(phrase("end.unanswered", server=f.name("server"), client=f.name("client"),
                           n=int(f.row["bytes_client"]), closed=closed))


def tell(f: Findings) -> Sentence | None:
    if f.verdict in (Verdict.HALF_CLOSE_CLEAN, Verdict.HALF_CLOSE_RESPONSE_CUT):
        return _half_close(f)
    if f.verdict is Verdict.CLOSED_BEFORE_RESPONSE:
        return _unanswered(f)
    if f.verdict is Verdict.NORMAL_CLOSE:
        return sentence(phrase("end.normal", closer=f.name(f.closer)))
    if f.verdict is Verdict.OPEN:
        return sentence(phrase("end.open", n=int(f.row["packets"])))
    if f.verdict is Verdict.ONE_SIDED_CLOSE:
        return sentence(phrase("end.one_sided", closer=f.name(f.closer)))
    return None
