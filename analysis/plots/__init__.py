"""Pictures of a dying connection: ladder diagram, lane timeline, time-sequence graph.

Inputs are the timeline DataFrame (analysis/schema.py columns) and, for the
ladder, an optional causal chain (``highlights``: a Diagnosis, a list of
:class:`Highlight` or ``(frame or ts_ns, actor, label)`` tuples). Outputs are
matplotlib Figures made without pyplot (Agg canvas, no global state);
:func:`save` is the only function that touches the file system.

    style.py       palette (Okabe-Ito), packet styles, marker table per (source, kind)
    labels.py      the text of each row (tcpdump-style packet labels, event templates)
    timeaxis.py    the compressed, broken time axis (one slot per event, idle gaps cut)
    layout.py      text widths from font metrics, greedy label stacking
    highlights.py  Highlight + highlights_from(diagnosis-like) + row matching
    select.py      which rows: one flow, several, or the failing one
    figure.py      Agg figures, titles, legends, break bands, save()
    titles.py      scenario titles from meta.json + verdict
    bundle_figures.py  timeline.png + ladder.svg for a run bundle
    ladder.py / lanes.py / tseq.py   the three plots

Example::

    tl = analysis.load("sample_pcaps/go-curl-8061")
    diag = tl.diagnose()[0]
    fig = plot_ladder(tl.events, diag.flow, highlights=diag, title="go + curl, 8061 B")
    save(fig, "ladder.svg")
"""

from __future__ import annotations

from analysis.plots.bundle_figures import write_bundle_figures
from analysis.plots.figure import save, text_artists
from analysis.plots.highlights import Highlight, highlights_from
from analysis.plots.ladder import plot_ladder
from analysis.plots.lanes import plot_lanes
from analysis.plots.select import PlotInputError, resolve_flow
from analysis.plots.titles import scenario_title
from analysis.plots.tseq import plot_tseq

#: ``--kind`` name -> plot function (all take ``(timeline_df, flow_or_flows, highlights=, title=)``).
PLOTS = {"ladder": plot_ladder, "lanes": plot_lanes, "tseq": plot_tseq}

__all__ = ["PLOTS", "Highlight", "PlotInputError", "highlights_from", "plot_ladder", "plot_lanes", "plot_tseq",
           "resolve_flow", "save", "scenario_title", "text_artists", "write_bundle_figures"]
