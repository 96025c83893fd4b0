"""The write after the peer's close: when it went out, which layer wrote it, and whether the writer could know."""

from __future__ import annotations

from analysis.diagnosis.evidence import Label
from analysis.diagnosis.explain.words import Phrases, Sentence, before, call_name, duration, frame, library, sentence, time_rel
from analysis.diagnosis.findings import Findings
from analysis.schema import Source

TEMPLATES: dict[str, str] = {
    "late.sent": "The {writer} wrote {n} bytes at {t} ({frame}), {delay} after that FIN",
    "layer.after_handler": ": {library} finishing the response after the handler had returned (the application "
                           "logged \"{said}\" at {t})",
    "late.returned": "; its {call} returned {n} (strace)",
    "late.unaware": ", so the {writer} could not tell the {closer} was gone",
}
phrase = Phrases(TEMPLATES)


def after_handler(f: Findings, write) -> bool:
    """The writer's application had said its handler returned before this write (so its library wrote it)."""
    return before(f.items.get(Label.APP_RESPONSE), write)


def by_library(f: Findings, write):
    """The clause saying that ``write`` (evidence) came from the server's library after the handler returned."""
    response = f.items.get(Label.APP_RESPONSE)
    if not after_handler(f, write):
        return None
    return phrase("layer.after_handler", library=library(f.impl), said=response.detail, t=time_rel(response))


def _noticed_before(f: Findings, write) -> bool:
    """The writer's application had logged that the peer was gone (or an error) before this write."""
    return any(before(f.items.get(label), write) for label in (Label.APP_ABORT, Label.APP_ERROR))


def tell(f: Findings) -> Sentence | None:
    it = f.items
    data, fin = it.get(Label.LATE_DATA), it.get(Label.FIN)
    if data is None or fin is None:
        return None
    call = it.get(Label.WRITE_AFTER_FIN)
    write = call or data
    if call is not None and call.source != Source.SYSCALL.value:
        call = None  # the kernel's send result: no call strace printed to quote
    library_wrote = by_library(f, write)
    returned = phrase("late.returned", call=call_name(call), n=call.length) if call is not None and call.length else None
    unaware = None
    if returned and Label.RST_ANSWER in it and library_wrote is None and not _noticed_before(f, write):
        unaware = phrase("late.unaware", writer=f.name(f.writer), closer=f.name(f.closer))
    return sentence(
        phrase("late.sent", writer=f.name(f.writer), n=data.length, t=time_rel(data), frame=frame(data),
               delay=duration(data.ts_ns - fin.ts_ns)),
        library_wrote, returned, unaware)
