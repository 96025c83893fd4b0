"""The figures `abortscope run` leaves in a bundle: timeline.png (lane timeline) and ladder.svg.

One call, after the run, with the loaded Timeline: titles come from the
bundle's meta.json, the causal chain from the diagnosis of the failing flow.
Writing the two files is the only I/O.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analysis.bundle import LADDER_SVG, TIMELINE_PNG
from analysis.plots.figure import save
from analysis.plots.ladder import plot_ladder
from analysis.plots.lanes import plot_lanes
from analysis.plots.select import resolve_flow
from analysis.plots.titles import scenario_title


def diagnosis_for(timeline: Any, flow: str) -> Any:
    """The Diagnosis of ``flow`` (``timeline.diagnose(flow=flow)``: that connection only), or None (no
    diagnosis, or it failed)."""
    diagnose = getattr(timeline, "diagnose", None)
    if diagnose is None:
        return None
    try:
        found = diagnose(flow=flow)
    except Exception:  # noqa: BLE001 - a picture without the chain beats no picture
        return None
    return found[0] if found else None


def write_bundle_figures(timeline: Any, bundle_dir: str | Path, flow: str | None = None) -> list[str]:
    """Write timeline.png and ladder.svg into ``bundle_dir``; return the file names written.

    ``timeline``: what analysis.load returned (``.events``, ``.meta``, ``.diagnose()``).
    """
    bundle_dir = Path(bundle_dir)
    events = timeline.events
    flow_id = resolve_flow(events, flow)
    diagnosis = diagnosis_for(timeline, flow_id)
    meta = getattr(timeline, "meta", None) or {}
    save(plot_ladder(events, flow_id, highlights=diagnosis, title=scenario_title(meta, diagnosis)),
         bundle_dir / LADDER_SVG)
    save(plot_lanes(events, highlights=diagnosis, title=scenario_title(meta, diagnosis)),
         bundle_dir / TIMELINE_PNG)
    return [LADDER_SVG, TIMELINE_PNG]
