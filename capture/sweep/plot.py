"""The sweep's figure: the threshold per server/client, and every probe on a size axis.

    save_plot(rows, Path("sweep.png"))

Left: one bar per server/client pair, its length the threshold in body bytes
("always" rows are a stub at the smallest size, "never" rows run to the
largest and are hatched). Right: every probe the searches ran, at its size,
red when the handler saw an error and blue when it did not: the app-error
map over size, with the threshold where the colours meet. Made with the Agg
canvas and no pyplot, so it needs no display and keeps no global state.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from capture.sweep.bisect import Outcome
from capture.sweep.matrix import SweepRow
from capture.sweep.report import cell

ERROR_COLOR, OK_COLOR, NEVER_COLOR = "#d62728", "#1f77b4", "#bbbbbb"


def save_plot(rows: Sequence[SweepRow], path: Path, title: str = "Where the handler starts seeing write errors") -> Path:
    rows = list(rows)
    height = max(3.0, 0.28 * len(rows) + 1.5)
    figure = Figure(figsize=(14, height), constrained_layout=True)
    FigureCanvasAgg(figure)
    bars, probes = figure.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [1, 1.3]})
    labels = [r.key for r in rows]
    positions = list(range(len(rows)))[::-1]
    lo = min((r.result.lo for r in rows), default=1)
    hi = max((r.result.hi for r in rows), default=2)
    floor = max(1, lo)

    for y, row in zip(positions, rows):
        outcome = row.result.outcome
        if outcome is Outcome.NEVER:
            bars.barh(y, hi, left=0, color=NEVER_COLOR, hatch="//", edgecolor="white")
        elif row.result.threshold is not None:
            bars.barh(y, max(row.result.threshold, floor), left=0, color=ERROR_COLOR if outcome is Outcome.ALWAYS else OK_COLOR)
        bars.text(hi * 1.05, y, cell(row), va="center", fontsize=8)
        sizes = [max(p.size, floor) for p in row.result.probes]
        colors = [ERROR_COLOR if p.app_error else OK_COLOR for p in row.result.probes]
        probes.scatter(sizes, [y] * len(sizes), c=colors, s=18, marker="|" if len(sizes) > 30 else "o", zorder=3)
        if outcome is Outcome.THRESHOLD:
            probes.plot([row.result.threshold] * 2, [y - 0.4, y + 0.4], color="black", lw=1)

    for axis in (bars, probes):
        axis.set_xscale("log")
        axis.set_xlim(floor * 0.8, hi * 1.25)
        axis.grid(axis="x", which="major", alpha=0.3)
    bars.set_xlim(floor * 0.8, hi * 4)  # room for the cell labels
    bars.set_yticks(positions, labels, fontsize=8)
    bars.set_xlabel("threshold: body bytes (log)")
    probes.set_xlabel("probe body size, bytes (log): red = handler saw an error, blue = no error")
    bars.set_title("threshold per server | client", fontsize=10)
    probes.set_title("every probe: app error yes/no", fontsize=10)
    figure.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path
