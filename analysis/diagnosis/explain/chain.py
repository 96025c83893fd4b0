"""A proxy chain (analysis.diagnosis.links) told from either end: the client closed; the proxy closed its upstream
connection right after; the upstream's write then met the proxy's RST."""

from __future__ import annotations

from analysis.diagnosis.evidence import Label
from analysis.diagnosis.explain.words import PROXIES, Phrases, Sentence, call_name, duration, sentence
from analysis.diagnosis.findings import Findings, optional
from analysis.diagnosis.links import PROXIED_BY, UPSTREAM_OF
from analysis.schema import Source

TEMPLATES: dict[str, str] = {
    "chain.front": "The proxy{impl} forwarded this request over {other} (opened at frame {opened}) and closed that "
                   "upstream connection {delay} after the client's {how} here (frame {frame})",
    "chain.back": "This is the upstream connection the proxy{impl} opened for {other}: the client closed that one ({how}, "
                  "frame {frame}); the proxy closed this one {delay} later (frame {proxy_frame})",
    "chain.upstream_reset": "; the upstream server's write then got RST (frame {frame})",
    "chain.upstream_errno": " and its {next}{call} failed with {errno} (strace)",
}
phrase = Phrases(TEMPLATES)


def client_close(row: dict) -> tuple[str, int]:
    """The client's first FIN or RST on a connection: ("FIN" | "RST", its frame)."""
    fin, rst = optional(row.get("fin_frame_client")), optional(row.get("rst_frame_client"))
    return ("FIN", int(fin)) if fin is not None and (rst is None or fin < rst) else ("RST", int(rst))


def _upstream_story(upstream: dict, items) -> list:
    """What the upstream server's write met after the proxy's close, on the upstream connection."""
    answer = optional(upstream.get("rst_answer_frame"))
    if answer is None:
        return []
    failed = items.get(Label.WRITE_ERROR)
    if failed is not None and failed.source != Source.SYSCALL.value:
        failed = None  # the clause quotes strace
    return [phrase("chain.upstream_reset", frame=int(answer)),
            phrase("chain.upstream_errno", next="next " if Label.WRITE_AFTER_FIN in items else "", call=call_name(failed),
                   errno=failed.errno) if failed else None]


def tell(f: Findings) -> Sentence | None:
    link = f.link
    if link is None:
        return None
    impl = f" ({PROXIES.get(f.proxy, f.proxy)})" if f.proxy else ""
    delay = duration(link.delay_ns)
    if link.role == PROXIED_BY:
        how, at = client_close(f.row)
        return sentence(phrase("chain.front", impl=impl, other=link.row["flow"], opened=int(link.row["first_frame"]),
                               delay=delay, how=how, frame=at),
                        *_upstream_story(link.row, link.items))
    if link.role == UPSTREAM_OF:
        how, at = client_close(link.row)
        _, proxy_at = client_close(f.row)
        return sentence(phrase("chain.back", impl=impl, other=link.row["flow"], how=how, frame=at, delay=delay,
                               proxy_frame=proxy_at),
                        *_upstream_story(f.row, f.items))
    return None
