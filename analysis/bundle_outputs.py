"""What the analyzer leaves in a run bundle after the run: timeline.csv, timeline.png, ladder.svg.

One function for every caller (`abortscope run`'s after-run hook, `make samples`, `--figures`): the
bundle is loaded once and every output drawn from that one Timeline, which it hands back (AfterRun) for
the run's other views of it (the run summary, capture.run_summary).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from analysis.bundle import TIMELINE_CSV

if TYPE_CHECKING:  # the CLI imports this module before it needs the analyzer
    from analysis.timeline import Timeline


@dataclass(frozen=True)
class AfterRun:
    """What an after-run hook did: the names it wrote into the bundle, and the Timeline it loaded (None: none)."""

    written: list[str] = field(default_factory=list)
    timeline: "Timeline | None" = None


def write_outputs(bundle_dir: Path, timeline_csv: bool = True) -> AfterRun:
    """Write the bundle's timeline.csv (unless ``timeline_csv`` is False) and figures; the names written and the
    Timeline they were drawn from."""
    from analysis.api import load
    from analysis.export import export
    from analysis.plots.bundle_figures import write_bundle_figures

    bundle_dir = Path(bundle_dir)
    timeline = load(bundle_dir)
    written = []
    if timeline_csv:
        export(timeline.events, "csv", bundle_dir / TIMELINE_CSV)
        written.append(TIMELINE_CSV)
    return AfterRun(written + write_bundle_figures(timeline, bundle_dir), timeline)
