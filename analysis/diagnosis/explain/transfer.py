"""What became of the bytes: sent after the peer's FIN and lost or acknowledged; a download delivered before the
RST, or cut; a reader that had stopped reading (zero window) before it reset."""

from __future__ import annotations

from analysis.diagnosis.evidence import Label
from analysis.diagnosis.explain.words import Phrases, Sentence, duration, sentence
from analysis.diagnosis.findings import Findings, optional

TEMPLATES: dict[str, str] = {
    "bytes.after_fin": "The {writer} sent {n} bytes after the {closer}'s FIN",
    "bytes.lost": "; {lost} of them were never acknowledged before the RST: lost",
    "bytes.acked": "; the {closer} acknowledged them",
    "download.delivered": "The {sender}'s kernel had received everything the {peer} had sent{whole}: its "
                          "acknowledgements, up to the RST's own, cover all of it, so none of it was lost on the wire",
    "download.unacked": "{lost} bytes the {peer} sent were never acknowledged by the {sender}: lost to its RST",
    "download.stopped_reading": "The {sender} had stopped reading before it reset: it advertised a zero window from "
                                "{t} (frame {frame}) until its RST, {delay} later",
}
phrase = Phrases(TEMPLATES)


def tell_late_bytes(f: Findings) -> Sentence | None:
    if Label.LATE_DATA not in f.items:
        return None
    unacked = f.numbers.get("unacked_at_rst")
    tail = None
    if Label.RST_ANSWER in f.items and unacked is not None:
        tail = phrase("bytes.lost", lost=int(unacked))
    elif Label.HALF_CLOSE in f.items:
        tail = phrase("bytes.acked", closer=f.name(f.closer))
    return sentence(phrase("bytes.after_fin", writer=f.name(f.writer), n=f.numbers["bytes_after_gone"],
                           closer=f.name(f.closer)), tail)


def tell_download(f: Findings) -> Sentence | None:
    """For a connection reset by one side while the other had sent it data (not the late-data story)."""
    rst = f.items.get(Label.FIRST_RST)
    if rst is None or Label.LATE_DATA in f.items or f.signals["refused"]:
        return None
    sender = rst.actor or f.closer
    peer = f.other(sender)
    if int(f.row[f"bytes_{peer}"]) == 0:
        return None
    names = {"peer": f.name(peer), "sender": f.name(sender)}
    if f.row["delivered_before_rst"]:
        fin = optional(f.row[f"fin_frame_{peer}"])
        whole = " (all it had to send: its FIN came first)" if fin is not None and fin < f.row["first_rst_frame"] else ""
        return sentence(phrase("download.delivered", whole=whole, **names))
    lost = int(f.row["bytes_lost"])
    return sentence(phrase("download.unacked", lost=lost, **names)) if lost else None


def tell_zero_window(f: Findings) -> Sentence | None:
    start, rst = optional(f.row.get("zero_window_frame")), f.items.get(Label.FIRST_RST)
    if start is None or rst is None:
        return None
    ts = int(f.row["zero_window_ts_ns"])
    t = f"+{(ts - int(f.row['first_ts_ns'])) / 1e9:.2f} s"
    return sentence(phrase("download.stopped_reading", sender=f.name(rst.actor or f.closer), t=t, frame=int(start),
                           delay=duration(rst.ts_ns - ts)))
