"""What this capture cannot tell: the calls of a side nobody traced, the kernel's view without its trace."""

from __future__ import annotations

from analysis.diagnosis.evidence import Label
from analysis.diagnosis.explain.words import Phrases, Sentence, sentence
from analysis.diagnosis.findings import Findings, optional

TEMPLATES: dict[str, str] = {
    "unknown.syscalls": "Without strace of the {side}, its calls on this connection are not observed: which of them "
                        "failed, and with which errno, cannot be known",
    "unknown.kernel": "{lead} the kernel trace, the RST's reason and the socket states are inferred from the packets",
}
phrase = Phrases(TEMPLATES)


def _exposed(f: Findings) -> str | None:
    """The side whose calls could have failed: the RST's receiver, else the side that wrote after the close."""
    rst = f.items.get(Label.FIRST_RST)
    if rst is not None and rst.actor:
        return f.other(rst.actor)
    return f.writer if Label.LATE_DATA in f.items else None


def tell(f: Findings) -> Sentence | None:
    side = _exposed(f)
    traced = optional(f.row.get("syscall_seen_by"))
    calls = None
    kernel_sends = optional(f.row.get("calls_source")) == "kernel"  # the kernel reported the sends' results
    if side is not None and traced not in (side, "both") and not f.signals["refused"] and not kernel_sends:
        calls = phrase("unknown.syscalls", side=f.name(side))
    kernel = None
    if f.signals["any_rst"] and optional(f.row.get("reset_state_source")) == "packets":
        kernel = phrase("unknown.kernel", lead="; without" if calls else "Without")
    return sentence(calls, kernel)
