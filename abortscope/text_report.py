"""`abortscope analyze`'s text: the verdict counts, then the most telling connections in words with their rows.

Only the connections shown are put into words (analysis.diagnosis.explain_rows)
and only their timeline rows are built (Timeline.flow_events): the text of a
capture with 70,000 connections costs what ten of them cost, beyond the table.
"""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from analysis.diagnosis import explain_rows, most_telling

#: a connection's rows shown under its diagnosis (packets beyond this: only the telling ones)
MAX_TIMELINE_ROWS = 40


def print_report(out: Console, timeline, table: pd.DataFrame, details: int, chosen: bool) -> None:
    """Print on ``out`` the report on ``table``, the connections to report on (``timeline.connections``, maybe
    filtered by verdict, ``chosen``)."""
    out.print(f"[bold]{len(table)} connection(s)[/], {len(timeline.packets)} packets; "
              f"sources: {', '.join(timeline.sources)}")
    if len(table) > 1:
        counts = Table("verdict", "connections", title="verdicts")
        for verdict, n in table["verdict"].astype(str).value_counts().items():
            counts.add_row(verdict, str(n))
        out.print(counts)
    everything = chosen or len(table) <= details  # a few connections, or the ones asked for: clean ones too
    ranked = most_telling(table, include_clean=everything)
    shown = ranked.head(details)
    if not everything or len(shown) < len(ranked):
        kind = "connections" if everything else "connections that did not close cleanly"
        out.print(f"details for {len(shown)} of {len(ranked)} {kind}, the most telling first "
                  "(--details N for more, --verdict NAME to choose):")
    for d in explain_rows(shown, timeline):
        out.print()
        out.print(f"[bold cyan]{d.flow}[/]  [bold]{d.verdict.value}[/]  [dim]{d.conn_state} {d.history}"
                  f"{' (roles guessed)' if d.role_guessed else ''}[/]")
        out.print(f"  {escape(d.summary)}")
        for sentence in d.sentences:
            out.print(f"  • {escape(sentence)}")
        out.print()
        _print_rows(out, timeline.flow_events(d.flow), set(d.frames))


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
