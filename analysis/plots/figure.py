"""Figure plumbing shared by the plots: Agg figures, titles, legends, break marks.

Figures are made with ``matplotlib.figure.Figure`` and an Agg canvas, never
through pyplot: no global state, no GUI backend, safe in threads and tests.
Layout is done in inches (a plot knows how many rows it has), so a figure
8 in wide saved at 100 dpi is exactly 800 px: the README width.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from analysis.plots import layout, style
from analysis.plots.labels import format_duration_ns, format_t_rel
from analysis.plots.timeaxis import TimeAxis

#: Figure width: README width at 100 dpi.
WIDTH_IN = 8.0
DEFAULT_DPI = 100
SUPPORTED_SUFFIXES = (".png", ".svg")
_SOURCE_ORDER = {"syscall": 0, "kernel": 1, "app": 2}


def new_figure(width_in: float, height_in: float) -> Figure:
    fig = Figure(figsize=(width_in, height_in), dpi=DEFAULT_DPI)
    FigureCanvasAgg(fig)
    fig.patch.set_facecolor("white")
    return fig


def title_lines(title: str, subtitle: str | None, width_chars: int = 88) -> tuple[str, str | None]:
    return textwrap.fill(title, width_chars), (textwrap.fill(subtitle, int(width_chars * 1.25)) if subtitle else None)


def title_height_in(title: str, subtitle: str | None) -> float:
    t, s = title_lines(title, subtitle)
    return 0.15 + 0.2 * (t.count("\n") + 1) + (0.16 * (s.count("\n") + 1) if s else 0.0)


def draw_title(fig: Figure, title: str, subtitle: str | None) -> None:
    t, s = title_lines(title, subtitle)
    height = fig.get_figheight()
    y = 1 - 0.08 / height
    fig.text(0.5, y, t, ha="center", va="top", fontsize=style.TITLE_FONT_SIZE, fontweight="bold")
    if s:
        y -= (0.2 * (t.count("\n") + 1) + 0.04) / height
        fig.text(0.5, y, s, ha="center", va="top", fontsize=style.SMALL_FONT_SIZE, color="#444444")


def legend_handles(rows: pd.DataFrame, highlighted: bool, broken: bool) -> list:
    """One legend entry per style present in ``rows`` (packets first), plus the chain and break keys."""
    handles, seen = [], set()
    packets = rows[rows["source"].astype("string") == "packet"]
    for kind in ("SYN", "SYN-ACK", "ACK", "DATA", "FIN", "RST"):
        if (packets["kind"].astype("string") == kind).any():
            ps = style.packet_style(kind)
            if ps.legend not in seen:
                seen.add(ps.legend)
                handles.append(Line2D([], [], color=ps.colour, linestyle=ps.linestyle, linewidth=ps.linewidth,
                                      label=f"packet: {ps.legend}"))
    others = rows[rows["source"].astype("string") != "packet"]
    errnos = others["errno"].astype("string").fillna("") if "errno" in others else pd.Series("", index=others.index)
    present = dict.fromkeys(zip(others["source"].astype(str), others["kind"].astype(str), errnos))
    for source, kind, errno in sorted(present, key=lambda ske: _SOURCE_ORDER.get(ske[0], len(_SOURCE_ORDER))):
        es = style.event_style(source, kind, errno or None)
        if es.legend not in seen:
            seen.add(es.legend)
            handles.append(Line2D([], [], linestyle="none", marker=es.marker, markersize=6, color=es.colour,
                                  markeredgecolor="black", markeredgewidth=0.5, label=f"{source}: {es.legend}"))
    if highlighted:
        handles.append(Patch(facecolor=style.HIGHLIGHT_FILL, alpha=0.5, edgecolor="none",
                             label="❶❷… causal chain (diagnosis)"))
    if broken:
        handles.append(Patch(facecolor=style.BREAK_COLOUR, alpha=0.18, edgecolor="none", label="idle gap, cut out"))
    return handles


def legend_height_in(n_entries: int, ncol: int = 3) -> float:
    return 0.1 + 0.175 * -(-n_entries // ncol) if n_entries else 0.0


def draw_legend(fig: Figure, handles: list, ncol: int = 3) -> None:
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=ncol, fontsize=style.SMALL_FONT_SIZE, frameon=False,
                   bbox_to_anchor=(0.5, 0.02 / fig.get_figheight()), columnspacing=1.2, handlelength=2.2)


def draw_breaks(ax, axis: TimeAxis, vertical_time: bool, label_at: float | None) -> None:
    """A grey band for every cut-out gap, with its real length printed across it.

    ``vertical_time``: time runs down the y axis (ladder); else along x.
    ``label_at``: the other coordinate of the label (None: no label).
    """
    for brk in axis.breaks:
        span = ax.axhspan if vertical_time else ax.axvspan
        span(brk.pos_start, brk.pos_end, facecolor=style.BREAK_COLOUR, alpha=0.18, edgecolor="none", zorder=0)
        if label_at is None:
            continue
        text = f"≈ {format_duration_ns(brk.duration_ns)} idle (cut)"
        xy = (label_at, brk.middle) if vertical_time else (brk.middle, label_at)
        ax.text(*xy, text, ha="center", va="center", fontsize=style.SMALL_FONT_SIZE, style="italic",
                color="#333333", rotation=0 if vertical_time else 90, zorder=5,
                bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none", alpha=0.9))


def save(fig: Figure, path: str | Path, dpi: int = DEFAULT_DPI) -> Path:
    """Write ``fig`` to ``path``; the suffix (.png or .svg) picks the format."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        from analysis.plots.select import PlotInputError

        raise PlotInputError(f"{path}: unsupported image type {suffix or '(none)'}; use .png or .svg")
    # SVG text stays text (searchable, 4x smaller than glyph outlines); viewers supply the font.
    try:
        with matplotlib.rc_context({"svg.fonttype": "none"}):
            fig.savefig(path, format=suffix[1:], dpi=dpi, facecolor="white",
                        metadata={"Date": None} if suffix == ".svg" else None)
    except OSError as exc:  # no such folder, no permission, a directory of that name, disk full
        from analysis.errors import ExportError

        raise ExportError(f"{path}: cannot write the image ({exc.strerror or exc})") from exc
    return path


def text_artists(fig: Figure) -> Iterable:
    """Every visible, non-empty text artist in the figure (titles, labels, legend)."""
    from matplotlib.text import Text

    for artist in fig.findobj(Text):
        if artist.get_visible() and artist.get_text().strip():
            yield artist


def draw_time_ticks(ax, axis: TimeAxis, t0_ns: int, in_per_unit: float, labelled: bool = True) -> None:
    """Ticks at the ends of each continuous stretch (then other knots), in ms since ``t0_ns``;
    the first and last labels are aligned inwards so they stay inside the figure."""
    size = style.SMALL_FONT_SIZE
    widest = layout.text_width_in(format_t_rel(10.0), size) + 0.12
    ticks = axis.ticks(min_spacing=widest / in_per_unit)
    ax.set_xticks([p for p, _ in ticks], [format_t_rel((ts - t0_ns) / 1e9) for _, ts in ticks] if labelled else [],
                  fontsize=size)
    if not labelled or not ticks:
        return
    x0, x1 = ax.get_xlim()
    half = widest / 2 / in_per_unit
    for (position, _), label in zip(ticks, ax.get_xticklabels()):
        if position + half > x1:
            label.set_horizontalalignment("right")
        elif position - half < x0:
            label.set_horizontalalignment("left")
