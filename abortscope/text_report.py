"""`abortscope analyze`'s text: the verdict counts, then the most telling connections in words with their rows.

Only the connections shown are put into words (analysis.diagnosis.explain_rows)
and only their timeline rows are built (Timeline.flow_events): the text of a
capture with 70,000 connections costs what ten of them cost, beyond the table,
which is never whole in memory either (analysis.api.report).
"""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table

from analysis.diagnosis import explain_rows

#: a connection's rows shown under its diagnosis (packets beyond this: only the telling ones)
MAX_TIMELINE_ROWS = 40


def print_report(out: Console, report, details: int, chosen: bool) -> None:
    """Print on ``out`` analysis.api.report's ``report`` (the connections to report on, maybe only some verdicts:
    ``chosen``)."""
    tally, timeline = report.tally, report.timeline
    out.print(f"[bold]{tally.total} connection(s)[/], {report.summary.packets} packets; "
              f"sources: {', '.join(timeline.sources)}")
    if tally.total > 1:
        counts = Table("verdict", "connections", title="verdicts")
        for verdict, n in sorted(tally.counts.items(), key=lambda item: -item[1]):
            if n:
                counts.add_row(verdict, str(n))
        out.print(counts)
    ranked = tally.total if report.everything else tally.not_clean  # a few connections, or those asked for: all
    shown = report.shown.head(details)
    if not report.everything or len(shown) < ranked:
        kind = "connections" if report.everything else "connections that did not close cleanly"
        out.print(f"details for {len(shown)} of {ranked} {kind}, the most telling first "
                  "(--details N for more, --verdict NAME to choose):")
    # the shown connections' rows built at once: a timeline merge costs about 12 ms whatever its size
    events = timeline.connection_events(shown["conn"].to_numpy())
    for d in explain_rows(shown, timeline):
        out.print()
        head, *sentences = d.text().splitlines()  # the library's words and layout, as the goldens pin them
        out.print(head, style="bold", markup=False, highlight=False, soft_wrap=True)
        for line in sentences:
            out.print(line, markup=False, highlight=False, soft_wrap=True)
        out.print()
        _print_rows(out, events[(events["flow"] == d.flow).to_numpy(bool)], set(d.frames))


def _print_rows(out: Console, events: pd.DataFrame, evidence_frames: set[int]) -> None:
    """One line per event (cut at the terminal's width): time, source, actor, kind, then what matters for that source."""
    rows = events
    if len(rows) > MAX_TIMELINE_ROWS:
        keep = (rows["source"] != "packet") | ~rows["kind"].isin(["ACK", "DATA"]) | rows["frame"].isin(list(evidence_frames))
        rows = rows[keep.fillna(True)]
    for r in rows.head(MAX_TIMELINE_ROWS * 2).to_dict("records"):
        if r["source"] == "packet":
            what = f"#{r['frame']} {r['flags']} seq={_s(r['seq'])} ack={_s(r['ack'])} len={_s(r['len'])}"
        else:
            what = " ".join(x for x in (_s(r["errno"]), _s(r["detail"])) if x)
        evidence = (not _is_na(r["frame"]) and int(r["frame"]) in evidence_frames) or isinstance(r["errno"], str)
        line = f"{r['t_rel']:+10.6f}  {str(r['source']):<7} {_s(r['actor']):<6} {str(r['kind']):<12} {what}"
        out.print(line, markup=False, highlight=False, no_wrap=True, overflow="ellipsis", style="bold" if evidence else None)


def _is_na(value) -> bool:
    return value is None or bool(pd.isna(value))


def _s(value) -> str:
    return "" if _is_na(value) else str(value)
