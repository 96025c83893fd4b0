"""The files a sweep leaves in its output directory, next to the probes' bundles.

    sweep.csv   one line per row (report.CSV_COLUMNS)
    sweep.md    the markdown matrix (and the knob table), for the README
    sweep.txt   the explanation: per row, the threshold and what the probes show; then the knobs
    sweep.png   the plot (plot.save_plot)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from capture.sweep.matrix import SweepRow
from capture.sweep.plot import save_plot
from capture.sweep.report import explain, knob_table, knobs, markdown_table, write_csv

FILES = {"csv": "sweep.csv", "markdown": "sweep.md", "text": "sweep.txt", "plot": "sweep.png"}


def explanation(rows: Sequence[SweepRow]) -> str:
    blocks = ["\n".join(explain(row)) for row in rows]
    how = knobs(rows)
    if how:
        blocks.append("How to change it:\n" + "\n".join(f"- {line}" for line in how))
    return "\n\n".join(blocks) + "\n"


def markdown(rows: Sequence[SweepRow]) -> str:
    parts = [markdown_table(rows)]
    if knob_table(rows):
        parts.append(knob_table(rows))
    return "\n\n".join(parts) + "\n"


def write_outputs(rows: Sequence[SweepRow], out_dir: Path) -> dict[str, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / file for name, file in FILES.items()}
    write_csv(rows, paths["csv"])
    paths["markdown"].write_text(markdown(rows))
    paths["text"].write_text(explanation(rows))
    save_plot(rows, paths["plot"])
    return paths
