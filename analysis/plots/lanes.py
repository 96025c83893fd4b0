"""The lane timeline: one horizontal lane per observer, for one or several connections.

Per connection, top to bottom: packets client → server, packets server →
client, then the syscalls, kernel events and application events of each side
(a lane only appears when some connection has rows for it). All lanes share
one compressed time axis (:mod:`.timeaxis`, built on the distinct instants
of every row shown, so simultaneous events line up across lanes and
connections). Markers and colours are the ladder's (:mod:`.style`).

Labels sit above their marker, starting at it (ending at it in the last
quarter of the axis); labels that would touch are stacked into extra rows of
their lane (:func:`.layout.stack`), with a thin leader down to the marker.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis.plots import figure as figs
from analysis.plots import layout, select, style, timeaxis
from analysis.plots.highlights import highlights_from, match
from analysis.plots.labels import format_duration_ns, row_label

#: (source, actor, lane name), top to bottom within a connection.
LANES: tuple[tuple[str, str | None, str], ...] = (
    ("packet", "client", "packets client → server"),
    ("packet", "server", "packets server → client"),
    ("packet", None, "packets (side unknown)"),
    ("syscall", "client", "client syscalls"),
    ("syscall", "server", "server syscalls"),
    ("kernel", "client", "client kernel"),
    ("kernel", "server", "server kernel"),
    ("app", "client", "client app"),
    ("app", "server", "server app"),
)
MAX_FLOWS = 8
LEFT_IN = 1.55
RIGHT_IN = 0.2
FLOW_HEADER_IN = 0.26
MARKER_ROW_IN = 0.2
LABEL_ROW_IN = 0.15
LANE_PAD_IN = 0.05
BELOW_AXIS_IN = 0.45
LABEL_SIZE = style.SMALL_FONT_SIZE
LABEL_GAP_IN = 0.05


def _lane_key(row: pd.Series) -> tuple[str, str | None]:
    return str(row["source"]), select.text(row["actor"])


def plot_lanes(timeline: pd.DataFrame, flows: Sequence[str | int] | str | int | None = None, highlights: Any = None,
               title: str | None = None) -> Figure:
    """Lane timeline of ``flows`` (default: every connection, up to :data:`MAX_FLOWS`) as a Figure."""
    flow_ids = _flows_shown(timeline, flows)
    rows = pd.concat([select.flow_rows(timeline, f) for f in flow_ids]).sort_values("ts_ns", kind="stable")
    rows = rows.reset_index(drop=True)
    chain = match(highlights_from(highlights), rows)
    axis = timeaxis.build(np.unique(rows["ts_ns"].to_numpy()))
    used = {_lane_key(r) for _, r in rows.iterrows()}
    lanes = [lane for lane in LANES if lane[:2] in used]

    axes_w_in = figs.WIDTH_IN - LEFT_IN - RIGHT_IN
    x_min, x_max = axis.start, axis.end
    in_per_unit = axes_w_in / (x_max - x_min)
    labels = _place_labels(rows, axis, chain, x_min, x_max, in_per_unit)

    blocks = _blocks(rows, flow_ids, lanes, labels)
    lanes_h = sum(FLOW_HEADER_IN + sum(MARKER_ROW_IN + n * LABEL_ROW_IN + LANE_PAD_IN for _, _, n in lr)
                  for _, lr in blocks)

    breaks_rows = layout.stack([_break_interval(b, x_min, in_per_unit) for b in axis.breaks], gap=LABEL_GAP_IN)
    below_in = BELOW_AXIS_IN + LABEL_ROW_IN * (max(breaks_rows, default=-1) + 1)
    handles = figs.legend_handles(rows, highlighted=bool(chain), broken=bool(axis.breaks))
    title = title or (f"Lane timeline: {flow_ids[0]}" if len(flow_ids) == 1 else
                      f"Lane timeline: {len(flow_ids)} connections")
    subtitle = ("One lane per observer; one column per distinct instant (compressed: idle gaps over "
                f"{format_duration_ns(timeaxis.DEFAULT_BREAK_AFTER_NS)} cut out). "
                "Times are ms since the first event shown.")
    top_in = figs.title_height_in(title, subtitle) + 0.05
    bottom_in = figs.legend_height_in(len(handles)) + below_in
    height_in = top_in + lanes_h + bottom_in
    fig = figs.new_figure(figs.WIDTH_IN, height_in)
    ax = fig.add_axes((LEFT_IN / figs.WIDTH_IN, bottom_in / height_in, axes_w_in / figs.WIDTH_IN, lanes_h / height_in))
    ax.set_xlim(x_min, x_max)
    ax.set_ylim(0, lanes_h)
    for spine in ("left", "right", "top"):
        ax.spines[spine].set_visible(False)
    ax.set_yticks([])

    figs.draw_breaks(ax, axis, vertical_time=False, label_at=None)
    top = lanes_h
    for number, (f, lane_rows) in enumerate(blocks, 1):
        top = _draw_flow(ax, rows, f, number, lane_rows, labels, chain, top, axis)
    t0 = int(rows["ts_ns"].min())
    figs.draw_time_ticks(ax, axis, t0, in_per_unit)
    for brk, r in zip(axis.breaks, breaks_rows):
        ax.text(brk.middle, -0.3 - r * LABEL_ROW_IN, f"≈ {format_duration_ns(brk.duration_ns)} cut", ha="center",
                va="top", fontsize=LABEL_SIZE, style="italic", color="#333333", clip_on=False)
    figs.draw_title(fig, title, subtitle)
    figs.draw_legend(fig, handles)
    return fig


def _flows_shown(timeline: pd.DataFrame, flows: Sequence[str | int] | str | int | None) -> list[str]:
    """The connections to draw: those named (each once), else every one up to :data:`MAX_FLOWS`."""
    if flows is None:
        flow_ids = select.flows_in_order(timeline)[:MAX_FLOWS]
        if not flow_ids:
            raise select.PlotInputError("the timeline has no rows tied to a connection (empty 'flow' everywhere)")
        return flow_ids
    wanted = [flows] if isinstance(flows, str | int) else list(flows)
    return list(dict.fromkeys(select.resolve_flow(timeline, f) for f in wanted))


def _blocks(rows: pd.DataFrame, flow_ids: list[str], lanes: list, labels: dict) -> list:
    """Per connection: (flow, [(lane, its row indexes, label rows it needs)])."""
    blocks = []
    for f in flow_ids:
        in_flow = rows["flow"].astype("string") == f
        lane_rows = []
        for lane in lanes:
            members = [i for i in rows.index[in_flow] if _lane_key(rows.loc[i]) == lane[:2]]
            lane_rows.append((lane, members, 1 + max((labels[i][2] for i in members), default=-1)))
        blocks.append((f, lane_rows))
    return blocks


def _label_text(row: pd.Series, steps: list) -> str:
    badges = "".join(style.badge(position) for position, _ in steps)
    return (badges + " " if badges else "") + row_label(row.to_dict(), short=True)


def _place_labels(rows: pd.DataFrame, axis: timeaxis.TimeAxis, chain: dict, x_min: float, x_max: float,
                  in_per_unit: float) -> dict[int, tuple[str, str, int]]:
    """row index -> (text, horizontal alignment, stack row within its lane)."""
    placed: dict[int, tuple[str, str, int]] = {}
    groups: dict[tuple, list[int]] = {}
    for i, row in rows.iterrows():
        groups.setdefault((str(row["flow"]), *_lane_key(row)), []).append(i)
    for members in groups.values():
        intervals, meta = [], []
        for i in members:
            row = rows.loc[i]
            text = _label_text(row, chain.get(i, []))
            width = layout.text_width_in(text, LABEL_SIZE, bold=i in chain)
            x_in = (axis.position(int(row["ts_ns"])) - x_min) * in_per_unit
            right = x_in > 0.75 * (x_max - x_min) * in_per_unit
            intervals.append((x_in - width, x_in) if right else (x_in, x_in + width))
            meta.append((i, text, "right" if right else "left"))
        for (i, text, ha), r in zip(meta, layout.stack(intervals, gap=LABEL_GAP_IN)):
            placed[i] = (text, ha, r)
    return placed


def _draw_flow(ax, rows: pd.DataFrame, flow: str, number: int, lane_rows: list, labels: dict, chain: dict,
               top: float, axis: timeaxis.TimeAxis) -> float:
    client, server = select.endpoints(flow)
    ax.text(-(LEFT_IN - 0.1) / (figs.WIDTH_IN - LEFT_IN - RIGHT_IN), top - FLOW_HEADER_IN / 2,
            f"connection {number}: {client} → {server}", transform=ax.get_yaxis_transform(), ha="left", va="center",
            fontsize=style.FONT_SIZE, fontweight="bold", clip_on=False)
    ax.axhline(top, color="black", linewidth=0.8)
    top -= FLOW_HEADER_IN
    for (source, actor, name), members, n_rows in lane_rows:
        height = MARKER_ROW_IN + n_rows * LABEL_ROW_IN + LANE_PAD_IN
        base = top - height + LANE_PAD_IN / 2
        marker_y = base + MARKER_ROW_IN / 2
        ax.axhline(marker_y, color="#BBBBBB", linewidth=0.6, zorder=1)
        ax.axhline(top - height, color="#E0E0E0", linewidth=0.5, zorder=1)
        ax.text(-0.01, marker_y, name, transform=ax.get_yaxis_transform(), ha="right", va="center",
                fontsize=style.SMALL_FONT_SIZE + 0.5, clip_on=False)
        for i in members:
            _draw_row(ax, rows.loc[i], axis, marker_y, labels[i], emphasis=i in chain)
        top -= height
    return top


def _draw_row(ax, row: pd.Series, axis: timeaxis.TimeAxis, marker_y: float, label: tuple[str, str, int],
              emphasis: bool) -> None:
    x = float(axis.position(int(row["ts_ns"])))
    if str(row["source"]) == "packet":
        ps = style.packet_style(str(row["kind"]))
        marker, colour = ("<" if select.text(row["actor"]) == "server" else ">"), ps.colour
    else:
        es = style.event_style(str(row["source"]), str(row["kind"]), select.text(row.get("errno")))
        marker, colour = es.marker, es.colour
    ax.plot([x], [marker_y], linestyle="none", marker=marker, markersize=8 if emphasis else 6, color=colour,
            markeredgecolor="black", markeredgewidth=1.1 if emphasis else 0.4, zorder=4)
    text, ha, stack_row = label
    label_y = marker_y + MARKER_ROW_IN / 2 + stack_row * LABEL_ROW_IN
    if stack_row:
        ax.plot([x, x], [marker_y + 0.05, label_y + 0.02], color="#999999", linewidth=0.5, zorder=2)
    ax.text(x, label_y, text, ha=ha, va="bottom", fontsize=LABEL_SIZE, fontweight="bold" if emphasis else "normal",
            zorder=5, bbox=dict(boxstyle="square,pad=0.05", facecolor=style.HIGHLIGHT_FILL, edgecolor="none",
                                alpha=0.6) if emphasis else None)


def _break_interval(brk: timeaxis.Break, x_min: float, in_per_unit: float) -> tuple[float, float]:
    text = f"≈ {format_duration_ns(brk.duration_ns)} cut"
    width = layout.text_width_in(text, LABEL_SIZE)
    middle = (brk.middle - x_min) * in_per_unit
    return middle - width / 2, middle + width / 2
