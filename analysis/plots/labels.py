"""The text drawn next to each timeline row: packet labels and event labels.

Packet labels follow tcpdump's vocabulary so a reader can match them with
``tcpdump -r``: ``#8 DATA [P.] 1:4097 (4096)`` is frame 8, flags ``[P.]``,
relative sequence range 1 to 4097 (end exclusive, as tcpdump prints it), 4096
payload bytes. Event labels come from the templates in :mod:`.style`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from analysis.plots.style import LABEL_MAX_CHARS, event_style

_SIGNAL = re.compile(r"\bSIG[A-Z0-9]+")


def _value(row: Mapping[str, Any], name: str) -> Any:
    value = row.get(name)
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value


def _int(row: Mapping[str, Any], name: str) -> int | None:
    value = _value(row, name)
    return None if value is None else int(value)


def shorten(text: str, limit: int = LABEL_MAX_CHARS) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis, on one line."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def packet_label(row: Mapping[str, Any], with_frame: bool = True) -> str:
    """``#8 DATA [P.] 1:4097 (4096)``; ``#6 FIN [F.] seq 80 ack 1``; ``#9 RST [R] seq 81``."""
    kind = str(row.get("kind"))
    flags = _value(row, "flags") or ""
    seq, ack, length = _int(row, "seq"), _int(row, "ack"), _int(row, "len") or 0
    parts = [f"#{_int(row, 'frame')}"] if with_frame and _int(row, "frame") is not None else []
    parts.append(kind)
    if flags:
        parts.append(f"[{flags}]")
    if seq is not None and length > 0:
        parts.append(f"{seq}:{seq + length} ({length})")
    elif seq is not None and kind in ("SYN", "SYN-ACK", "FIN", "RST"):
        parts.append(f"seq {seq}")
    if ack is not None and length == 0 and kind != "RST":
        parts.append(f"ack {ack}")
    return " ".join(parts)


def packet_short(row: Mapping[str, Any]) -> str:
    """Lane-timeline form: ``DATA 4096``, ``FIN``, ``RST``."""
    kind = str(row.get("kind"))
    length = _int(row, "len") or 0
    return f"{kind} {length}" if length > 0 else kind


def _fields(row: Mapping[str, Any], detail_chars: int | None = 16) -> dict[str, Any]:
    detail = _value(row, "detail") or ""
    old_state, _, new_state = str(detail).partition("->")
    if not new_state:  # detail is just the new state (or empty)
        old_state, new_state = "", old_state
    signal = _SIGNAL.search(str(detail))
    return {
        "kind": row.get("kind"),
        "call": str(row.get("kind")).split("_")[0],
        "signal": signal.group(0) if signal else "?",
        "source": row.get("source"),
        "len": "?" if _int(row, "len") is None else _int(row, "len"),
        "errno": _value(row, "errno") or "error",
        "detail": (shorten(detail, detail_chars) if detail_chars else " ".join(str(detail).split())) if detail else "?",
        "old_state": old_state.strip(),
        "new_state": new_state.strip() or "?",
    }


def event_label(row: Mapping[str, Any], short: bool = False) -> str:
    """Label of a non-packet row (``write() fails: EPIPE``, ``state → CLOSE_WAIT``)."""
    style = event_style(str(row.get("source")), str(row.get("kind")), _value(row, "errno"))
    template = style.short if short else style.label
    return shorten(template.format(**_fields(row)), LABEL_MAX_CHARS if not short else 16)


def event_text(row: Mapping[str, Any]) -> str:
    """The long form of :func:`event_label`, for text with room (pcapng comments): the label whole, then the
    row's whole detail (the syscall line, the application's words) when the label does not show it."""
    style = event_style(str(row.get("source")), str(row.get("kind")), _value(row, "errno"))
    text = style.label.format(**_fields(row, detail_chars=None))
    detail = _value(row, "detail")
    if detail and "{detail}" not in style.label:
        text += " — " + " ".join(str(detail).split())
    return text


def row_label(row: Mapping[str, Any], short: bool = False) -> str:
    if row.get("source") == "packet":
        return packet_short(row) if short else packet_label(row)
    return event_label(row, short=short)


def format_t_rel(seconds: float) -> str:
    """Relative time in ms with microsecond resolution: ``1004.111 ms``."""
    return f"{seconds * 1e3:.3f} ms"


def format_duration_ns(duration_ns: int) -> str:
    """A gap's length in the unit that reads best: ``670 ms``, ``1.20 s``, ``41.8 µs``."""
    if duration_ns >= 1_000_000_000:
        return f"{duration_ns / 1e9:.2f} s"
    if duration_ns >= 1_000_000:
        return f"{duration_ns / 1e6:.0f} ms" if duration_ns >= 10_000_000 else f"{duration_ns / 1e6:.1f} ms"
    return f"{duration_ns / 1e3:.1f} µs"
