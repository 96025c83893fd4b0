"""Plot titles that say the scenario: "go + curl, body 8061 B: write after client FIN → RST → EPIPE".

Built from a bundle's meta.json (``meta["scenario"]``, see analysis/bundle.py)
and the diagnosis verdict; both are optional.
"""

from __future__ import annotations

from typing import Any

from analysis.diagnosis.verdicts import Verdict

#: Verdict -> the short story for a title ({closer} filled from the diagnosis); a test checks every verdict has one.
VERDICT_STORIES: dict[Verdict, str] = {
    Verdict.REFUSED: "connection refused (SYN → RST)",
    Verdict.ERROR_SWALLOWED_BY_APP: "write fails after the handler returned: error swallowed",
    Verdict.WRITE_AFTER_PEER_FIN_RST_EPIPE: "write after {closer} FIN → RST → EPIPE",
    Verdict.RST_BY_CLIENT_ECONNRESET: "client aborts with RST → ECONNRESET",
    Verdict.WRITE_AFTER_PEER_FIN_RST: "data after {closer} FIN → RST",
    Verdict.RST_BY_CLIENT: "client aborts with RST",
    Verdict.RST_BY_SERVER: "server aborts with RST",
    Verdict.APP_ERROR_WITHOUT_SYSCALL_ERROR: "app reports an error, no syscall failed",
    Verdict.HALF_CLOSE_RESPONSE_CUT: "half-close: {closer} FIN, response cut short",
    Verdict.HALF_CLOSE_CLEAN: "half-close: {closer} FIN, data still flows",
    Verdict.CLOSED_BEFORE_RESPONSE: "client FIN while the request was pending: no response",
    Verdict.NORMAL_CLOSE: "normal close (FIN both ways)",
    Verdict.RST_AFTER_CLOSE: "FIN, then RST",
    Verdict.ONE_SIDED_CLOSE: "one side closed",
    Verdict.OPEN: "still open at the end of the capture",
}

#: meta["scenario"] switch -> words added after the body size.
SCENARIO_FLAGS: dict[str, str] = {
    "content_length": "Content-Length",
    "ctx_aware": "ctx-aware handler",
    "flush": "flush per write",
}


def _story(diagnosis: Any) -> str | None:
    if diagnosis is None:
        return None
    verdict = getattr(diagnosis, "verdict", None)
    template = VERDICT_STORIES.get(verdict)  # a Verdict, or its value: a StrEnum member is equal to its string
    if template is None:
        summary = getattr(diagnosis, "summary", None)
        return str(summary) if summary else (str(verdict) if verdict else None)
    return template.format(closer=_closer(diagnosis))


def _closer(diagnosis: Any) -> str:
    """The side whose FIN is the diagnosis' "fin" evidence ("peer" when unknown)."""
    for item in getattr(diagnosis, "evidence", None) or ():
        label = item.get("label") if isinstance(item, dict) else getattr(item, "label", None)
        actor = item.get("actor") if isinstance(item, dict) else getattr(item, "actor", None)
        if label == "fin" and actor:
            return str(actor)
    return "peer"


def scenario_title(meta: dict | None, diagnosis: Any = None, what: str | None = None) -> str | None:
    """``"go + curl, body 8061 B: write after client FIN → RST → EPIPE"``; None when nothing is known.

    ``what`` names the picture when there is no diagnosis ("lane timeline").
    """
    scenario = (meta or {}).get("scenario") or {}
    parts = []
    if scenario.get("server") or scenario.get("client"):
        parts.append(f"{scenario.get('server', '?')} + {scenario.get('client', '?')}")
    if scenario.get("size") is not None:
        parts.append(f"body {scenario['size']} B")
    parts += [words for key, words in SCENARIO_FLAGS.items() if scenario.get(key)]
    if str(scenario.get("host", "")).count(":") > 1:
        parts.append("IPv6")
    head = ", ".join(parts)
    story = _story(diagnosis) or what
    if head and story:
        return f"{head}: {story}"
    return head or story
