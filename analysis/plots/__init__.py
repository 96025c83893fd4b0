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

import importlib

#: Public name -> (module, attribute). Loaded on first use, so that importing one light module of the
#: package (labels, style, highlights: the vocabulary pcapng comments share) does not import matplotlib.
_EXPORTS: dict[str, tuple[str, str]] = {
    "write_bundle_figures": ("bundle_figures", "write_bundle_figures"),
    "save": ("figure", "save"),
    "text_artists": ("figure", "text_artists"),
    "Highlight": ("highlights", "Highlight"),
    "highlights_from": ("highlights", "highlights_from"),
    "plot_ladder": ("ladder", "plot_ladder"),
    "plot_lanes": ("lanes", "plot_lanes"),
    "PlotInputError": ("select", "PlotInputError"),
    "resolve_flow": ("select", "resolve_flow"),
    "scenario_title": ("titles", "scenario_title"),
    "plot_tseq": ("tseq", "plot_tseq"),
}


def __getattr__(name: str):
    if name == "PLOTS":
        #: ``--kind`` name -> plot function (all take ``(timeline_df, flow_or_flows, highlights=, title=)``).
        return {"ladder": __getattr__("plot_ladder"), "lanes": __getattr__("plot_lanes"),
                "tseq": __getattr__("plot_tseq")}
    if name not in _EXPORTS:
        raise AttributeError(f"module 'analysis.plots' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    return getattr(importlib.import_module(f"analysis.plots.{module}"), attribute)


__all__ = ["PLOTS", *_EXPORTS]
