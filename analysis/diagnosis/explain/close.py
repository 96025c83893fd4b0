"""How the connection ended: refused, aborted with RST, or closed with FIN (and whether a request was pending)."""

from __future__ import annotations

from analysis.diagnosis.evidence import Label
from analysis.diagnosis.explain.words import RST_REASONS, Phrases, Sentence, frame, sentence, time_rel
from analysis.diagnosis.findings import Findings

TEMPLATES: dict[str, str] = {
    "close.refused": "The {client}'s SYN was answered by RST at {t} ({frame}): nothing accepted the connection",
    "close.abort": "The {side} aborted with RST at {t} ({frame}{why}) without a FIN{pending}",
    "close.fin": "The {closer} closed with FIN at {t} ({frame}){pending}",
}
phrase = Phrases(TEMPLATES)


def kernel_reason(f: Findings) -> str:
    """``; reason R, from the kernel: words`` for the first RST, when the kernel trace gave its reason."""
    reason = f.numbers.get("rst_reason")
    if not reason:
        return ""
    words = RST_REASONS.get(reason)
    return f"; reason {reason}, from the kernel" + (f": {words}" if words else "")


def _pending(f: Findings, closer: str, by_rst: bool) -> str:
    """The request was pending when the closer closed: it had sent data, its peer nothing yet."""
    peer = f.other(closer)
    if by_rst:  # all the closer's payload came before its RST; the peer's after it is lost_after_rst_bytes
        sent, peer_sent = f.row[f"bytes_{closer}"], f.row[f"bytes_{peer}"] - f.row["lost_after_rst_bytes"]
    else:
        sent, peer_sent = f.row[f"bytes_before_peer_fin_{closer}"], f.row[f"bytes_before_peer_fin_{peer}"]
    if closer == "client" and sent > 0 and peer_sent == 0:
        return f" while the request was pending (the {f.name(peer)} had sent no data yet)"
    return ""


def tell(f: Findings) -> Sentence | None:
    it = f.items
    rst, fin = it.get(Label.FIRST_RST), it.get(Label.FIN)
    if f.signals["refused"] and rst is not None:
        return sentence(phrase("close.refused", client=f.name("client"), t=time_rel(rst), frame=frame(rst)))
    if (f.signals["client_abort"] or f.signals["server_abort"]) and rst is not None:
        side = rst.actor or "client"
        return sentence(phrase("close.abort", side=f.name(side), t=time_rel(rst), frame=frame(rst), why=kernel_reason(f),
                               pending=_pending(f, side, by_rst=True)))
    if fin is not None:
        return sentence(phrase("close.fin", closer=f.name(f.closer), t=time_rel(fin), frame=frame(fin),
                               pending=_pending(f, f.closer, by_rst=False)))
    return None
