"""Event sources: one parser module each, every one returning timeline rows (analysis.schema).

The registry below is the list of sources; :mod:`analysis.timeline` merges
their output. Each ``parse`` takes the source's text (or, for packets, the
packet table) plus the flows table to tie events to connections.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from analysis.events import app_jsonl, applog, jsonl, kernel, packets, strace
from analysis.schema import Source


@dataclass(frozen=True)
class EventSource:
    name: str  # the CLI option / load() keyword
    source: Source  # the timeline `source` value its rows carry
    module: ModuleType
    input: str  # what it reads


SOURCES: dict[str, EventSource] = {s.name: s for s in (
    EventSource("packets", Source.PACKET, packets, "packet table from analysis.pcap.read_packets"),
    EventSource("app", Source.APP, app_jsonl, "a run bundle's app.jsonl"),
    EventSource("strace", Source.SYSCALL, strace, "strace -f -ttt -T -yy output"),
    EventSource("kernel", Source.KERNEL, kernel, "tracefs `trace` text (clock offset from meta.json)"),
    EventSource("applog", Source.APP, applog, "Go `log` lines (date time message)"),
    EventSource("jsonl", Source.APP, jsonl, "generic JSON lines with a timestamp field"),
)}

__all__ = ["SOURCES", "EventSource"]
