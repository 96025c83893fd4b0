"""Event sources: one parser module each, every one returning timeline rows (analysis.schema).

The registry below is the list of the sources read from text, in the order
they are read (a later one may use an earlier one's rows:
``ParseContext.earlier``). analysis.side_files reads whatever it lists;
analysis.timeline merges the rows with the packets' (events/packets.py,
built from the packet table, not from text). Every ``parse`` has one
signature, ``parse(text, ctx: ParseContext) -> DataFrame``, so adding a log
format is one new module plus one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from analysis import bundle
from analysis.errors import AbortscopeError
from analysis.events import app_jsonl, applog, javalog, jsonl, kernel, nginx_access, nginx_error, nodelog, pattern, pylog, strace
from analysis.events.context import ParseContext
from analysis.schema import Source

#: The name of the packets among the sources (Timeline.sources): read by analysis.pcap, not from text.
PACKETS = "packets"


@dataclass(frozen=True)
class EventSource:
    name: str  # Read.logs' key, the CLI option, Timeline.sources' name
    source: Source  # the timeline `source` value its rows carry
    parse: Callable[[str, ParseContext], pd.DataFrame]
    reads: str  # what it reads, in words
    what: str  # what one file of it is, in a message ("cannot read the strace file")
    bundle_file: str | None = None  # read from a run bundle unless another file is named
    wall_clock: bool = False  # its times carry no zone: ParseContext.tz (analysis.side_files says which)


SOURCES: dict[str, EventSource] = {s.name: s for s in (
    EventSource("strace", Source.SYSCALL, strace.parse, "strace -f -ttt -T -yy output", "strace", bundle.STRACE),
    EventSource("kernel", Source.KERNEL, kernel.parse, "tracefs `trace` text (clock offset from meta.json)",
                "kernel trace", bundle.KERNEL),
    EventSource("app", Source.APP, app_jsonl.parse, "a run bundle's app.jsonl", "app events", bundle.APP_EVENTS),
    EventSource("applog", Source.APP, applog.parse, "Go `log` lines (date time message)", "application log",
                wall_clock=True),
    EventSource("jsonl", Source.APP, jsonl.parse, "generic JSON lines with a timestamp field", "JSON lines"),
    EventSource("nginx", Source.APP, nginx_error.parse, "nginx error.log (level info)", "nginx error log", wall_clock=True),
    EventSource("nginx_access", Source.APP, nginx_access.parse, "nginx access.log (combined): its 499 lines",
                "nginx access log"),
    EventSource("python", Source.APP, pylog.parse, "Python tracebacks and log lines", "Python log", wall_clock=True),
    EventSource("node", Source.APP, nodelog.parse, "Node.js errors (write EPIPE, ERR_STREAM_DESTROYED)", "Node log",
                wall_clock=True),
    EventSource("java", Source.APP, javalog.parse, "Java stack traces (java.io.IOException: Broken pipe)", "Java log",
                wall_clock=True),
    EventSource("pattern", Source.APP, pattern.parse, "any log, through --applog-pattern REGEX", "application log",
                wall_clock=True),
)}

#: what an application's log can be read as (--applog-format): the sources with no bundle file of their own
LOG_FORMATS = tuple(name for name, source in SOURCES.items() if source.bundle_file is None)


def check_log_format(name: str, but: tuple[str, ...] = (), also: tuple[str, ...] = ()) -> str:
    """``name`` when it is one of LOG_FORMATS (not in ``but``, those the caller cannot take) or of ``also`` (the
    caller's own words); else an AbortscopeError naming the choices, in one line."""
    known = [*also, *(n for n in LOG_FORMATS if n not in but)]
    if name not in known:
        raise AbortscopeError(f"--applog-format {name!r}: choose one of {', '.join(known)}")
    return name


__all__ = ["LOG_FORMATS", "PACKETS", "SOURCES", "EventSource", "ParseContext", "check_log_format"]
