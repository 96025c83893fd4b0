"""What an event parser may need besides its text: one value for every source (``parse(text, ctx)``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from analysis.events._lines import LineReport


@dataclass(frozen=True)
class ParseContext:
    """The context of one side file's parse.

    - ``flows``: the connections (analysis.tcp's table) to tie events to; None ties nothing;
    - ``meta``: the run bundle's meta.json ({} for a bare capture): the kernel trace's clock offset;
    - ``tz``: the zone of wall-clock log times (sources whose lines carry no zone);
    - ``trace_to_realtime_ns``: the tracefs clock offset, over meta's;
    - ``earlier``: the rows of the sources read before this one, by source name (the kernel trace ties
      ``sock_send_length`` through strace's writes);
    - ``lines``: where damaged lines are counted (events._lines); None: not counted;
    - ``actor``: the side that was traced or logged, where no connection says (the harness traces the server);
    - ``options``: settings of one source (e.g. ``ts_field`` of generic JSON lines);
    - ``arrival_ns``: per line of the text, when it reached `abortscope record` (epoch ns; the bundle's
      ``NAME.arrival``), or None. A line with no time of its own (a traceback) is placed at its arrival;
      one whose own time is coarser (nginx: whole seconds) takes its arrival when that falls within it.
    """

    flows: pd.DataFrame | None = None
    meta: Mapping = field(default_factory=dict)
    tz: str | None = None
    trace_to_realtime_ns: int | None = None
    earlier: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    lines: LineReport | None = None
    actor: str = "server"
    options: Mapping[str, str] = field(default_factory=dict)
    arrival_ns: Sequence[int] | None = None
