"""Highlights: the causal chain of a diagnosis, as steps the plots can point at.

A :class:`Highlight` names one timeline row, by frame number (packets) or by
``ts_ns`` (any row), optionally with the actor to disambiguate, plus the
words to print ("client closes", "second write fails: EPIPE").

:func:`highlights_from` turns whatever the caller holds into highlights, by
duck typing, so the plots do not depend on the diagnosis package's classes:
a Diagnosis-like object (``.chain`` or ``.evidence``), a list of them, a
DataFrame of timeline rows, ``(at, actor, label)`` tuples, dicts, or
Highlights. In a tuple, ``at`` below 10**12 is a frame number, otherwise a
``ts_ns`` (no capture has a trillion frames, no ts_ns is before 1970+16 min).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.plots.labels import row_label

_FRAME_LIMIT = 10**12

#: Evidence label (analysis.diagnosis.signals) -> the words of that causal-chain step, or None
#: for supporting evidence the plot shows anyway but does not number. Fields: {actor}, {errno}.
#: Order is preference when two labels name the same row (first_rst and rst_answer).
EVIDENCE_WORDS: dict[str, str | None] = {
    "fin": "{actor} closes (FIN)",
    "write_after_fin": "write still succeeds after the FIN",
    "late_data": "{actor} sends data after the FIN",
    "rst_answer": "{actor}'s kernel answers with RST",
    "first_rst": "{actor} sends RST",
    "half_close": "{actor} still ACKs data (half-close)",
    "write_error": "next write fails: {errno}",
    "syscall_error": "syscall fails: {errno}",
    "app_error": "app sees the error: {errno}",
    "app_abort": "{actor}'s app notices the peer has gone",
    "read_eof": None,
    "rst_reason": None,
    "state_at_rst": None,
    "sk_error": None,
    "app_write": None,
    "writer_fin": None,
    "app_response": None,
}
#: Columns of an evidence row that may hold the words for a step, in preference order.
_LABEL_COLUMNS = ("label", "step", "role", "why", "sentence")


@dataclass(frozen=True)
class Highlight:
    """One step of a causal chain, pointing at one timeline row."""

    label: str
    ts_ns: int | None = None
    frame: int | None = None
    actor: str | None = None

    def __post_init__(self) -> None:
        if self.ts_ns is None and self.frame is None:
            raise ValueError("a Highlight needs ts_ns or frame")


def _get(item: Any, name: str) -> Any:
    value = item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    return value


def _from_row(row: Any, fallback_label: str | None = None) -> Highlight | None:
    frame, ts_ns = _get(row, "frame"), _get(row, "ts_ns")
    if frame is None and ts_ns is None:
        return None
    label = next((str(_get(row, c)) for c in _LABEL_COLUMNS if _get(row, c) is not None), None)
    if label is None:
        label = fallback_label
    if label is None:
        label = row_label(row) if isinstance(row, Mapping) else "evidence"
    actor = _get(row, "actor")
    return Highlight(label=label, ts_ns=None if ts_ns is None else int(ts_ns),
                     frame=None if frame is None else int(frame), actor=None if actor is None else str(actor))


def _one(item: Any) -> list[Highlight]:
    if isinstance(item, Highlight):
        return [item]
    if isinstance(item, tuple) and len(item) == 3 and not hasattr(item, "_fields"):
        at, actor, label = item
        at, actor = int(at), None if actor is None else str(actor)
        if at < _FRAME_LIMIT:
            return [Highlight(str(label), frame=at, actor=actor)]
        return [Highlight(str(label), ts_ns=at, actor=actor)]
    if isinstance(item, pd.DataFrame):
        return [h for _, row in item.iterrows() if (h := _from_row(row.to_dict()))]
    if isinstance(item, pd.Series):
        return [h] if (h := _from_row(item.to_dict())) else []
    if isinstance(item, Mapping) or hasattr(item, "frame") or hasattr(item, "ts_ns"):
        if _get(item, "evidence") is None and _get(item, "chain") is None:
            h = _from_row(item)
            return [h] if h else []
    return _from_diagnosis(item)


def _from_diagnosis(diagnosis: Any) -> list[Highlight]:
    chain = _get(diagnosis, "chain")
    if chain is not None:
        steps = chain if not isinstance(chain, pd.DataFrame) else [chain]
        return [h for step in steps for h in _one(step)]
    evidence = _get(diagnosis, "evidence")
    if evidence is None:
        return []
    if isinstance(evidence, pd.DataFrame):
        rows = [row.to_dict() for _, row in evidence.iterrows()]
    else:
        rows = list(evidence)
    labels = _get(diagnosis, "labels")
    ranked: list[tuple[int, Highlight]] = []
    for i, row in enumerate(rows):
        fallback = str(labels[i]) if labels is not None and i < len(labels) else None
        rank, words = _evidence_words(row)
        if rank is not None and words is None:  # supporting evidence: drawn anyway, not numbered
            continue
        h = _from_row(row, fallback) if isinstance(row, Mapping) or hasattr(row, "ts_ns") else None
        if h is not None and words:
            h = Highlight(words, ts_ns=h.ts_ns, frame=h.frame, actor=h.actor)
        ranked += [(len(EVIDENCE_WORDS) if rank is None else rank, x) for x in ([h] if h else _one(row))]
    return _dedupe(ranked)


_RANK = {label: n for n, label in enumerate(EVIDENCE_WORDS)}


def _evidence_words(row: Any) -> tuple[int | None, str | None]:
    """(preference rank, words) for a known evidence label; (None, None) when the label is not ours."""
    label = _get(row, "label")
    if label is None or str(label) not in EVIDENCE_WORDS:
        return None, None
    template = EVIDENCE_WORDS[str(label)]
    words = None if template is None else template.format(actor=_get(row, "actor") or "a side",
                                                          errno=_get(row, "errno") or "error")
    return _RANK[str(label)], words


def _dedupe(ranked: list[tuple[int, Highlight]]) -> list[Highlight]:
    """One highlight per row (the preferred words win), in the order the rows came."""
    best: dict[tuple, tuple[int, Highlight]] = {}
    for rank, h in ranked:
        key = (h.ts_ns, h.frame, h.actor)
        if key not in best or rank < best[key][0]:
            best[key] = (rank, h)
    return [h for _, h in best.values()]


def highlights_from(source: Any) -> list[Highlight]:
    """Highlights from a Diagnosis-like object, a list of them, rows, tuples or Highlights.

    Unknown shapes yield no highlight rather than an error: a plot without its
    annotations is better than no plot.
    """
    if source is None:
        return []
    if isinstance(source, Iterable) and not isinstance(source, str | bytes | Mapping | pd.DataFrame | pd.Series
                                                       | tuple):
        return [h for item in source for h in _one(item)]
    return _one(source)


def match(highlights: Iterable[Highlight], rows: pd.DataFrame) -> dict[Any, list[tuple[int, Highlight]]]:
    """Which row (index label of ``rows``) each highlight points at, with its chain position.

    A frame matches the packet row with that frame; a ts_ns matches the row at
    exactly that time (same actor when given), else the nearest row of that
    actor within 1 ms. Highlights that match nothing are dropped.
    """
    out: dict[Any, list[tuple[int, Highlight]]] = {}
    frames = rows["frame"] if "frame" in rows else pd.Series(dtype="Int64")
    for position, h in enumerate(highlights):
        candidates = rows
        if h.frame is not None:
            candidates = rows[(frames == h.frame).fillna(False).astype(bool)]
            if h.ts_ns is not None and len(candidates) > 1:
                candidates = candidates[candidates["ts_ns"] == h.ts_ns]
        else:
            if h.actor is not None:
                candidates = candidates[candidates["actor"].astype("string") == h.actor]
            if len(candidates) == 0:
                continue
            distance = (candidates["ts_ns"].astype("int64") - int(h.ts_ns)).abs()
            candidates = candidates[distance == distance.min()] if distance.min() <= 1_000_000 else candidates[:0]
        if len(candidates):
            out.setdefault(candidates.index[0], []).append((position, h))
    return out
