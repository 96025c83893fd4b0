"""What the analyzer leaves in a run bundle after the run: timeline.csv, timeline.png, ladder.svg.

One function for every caller (`abortscope run`'s after-run hook, `make samples`, `--figures`): the
bundle is loaded once and every output drawn from that one Timeline.
"""

from __future__ import annotations

from pathlib import Path

from analysis.bundle import TIMELINE_CSV


def write_outputs(bundle_dir: Path, timeline_csv: bool = True) -> list[str]:
    """Write the bundle's timeline.csv (unless ``timeline_csv`` is False) and figures; return the names written."""
    from analysis.api import load
    from analysis.export import export
    from analysis.plots.bundle_figures import write_bundle_figures

    bundle_dir = Path(bundle_dir)
    timeline = load(bundle_dir)
    written = []
    if timeline_csv:
        export(timeline.events, "csv", bundle_dir / TIMELINE_CSV)
        written.append(TIMELINE_CSV)
    return written + write_bundle_figures(timeline, bundle_dir)
