"""The ladder (sequence) diagram of one connection: client and server lanes, time running down.

Layout rules (why the picture looks the way it does):

- Every timeline row gets its own row of the diagram, from the compressed
  time axis (:mod:`.timeaxis`); a highlighted row gets one more row above it
  for its causal-chain annotation. One text per row and column means labels
  cannot overlap, however close in time the events are.
- Columns, left to right: the time of each row (ms since the first packet),
  client-side event labels, the client lane, packet labels, the server lane,
  server-side event labels.
- A packet is an arrow from the sender's lane to the receiver's lane,
  centred on its row. The capture timestamp is one instant seen at one
  capture point (on loopback both sockets see the packet at that instant),
  so the slant is a fixed visual amount that only shows direction, not a
  measured transit time. The time printed on the row is the capture time.
- Markers on a lane are what that side's syscalls, kernel and application
  saw; their style comes from :mod:`.style` (circle syscall, square kernel,
  diamond app; red = failure).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch

from analysis.plots import figure as figs
from analysis.plots import select, style, timeaxis
from analysis.plots.highlights import highlights_from, match
from analysis.plots.labels import event_label, format_duration_ns, format_t_rel, packet_label

#: Horizontal layout, in percent of the figure width.
TIME_X = 9.5
CLIENT_X = 35.0
SERVER_X = 63.0
PACKET_LABEL_X = (CLIENT_X + SERVER_X) / 2
LABEL_GAP = 1.6
#: Height of one row (one axis step), in inches: 8 pt text is ~0.11 in.
ROW_IN = 0.2
#: Half the vertical extent of a packet arrow, in steps (the fixed visual slant).
SLANT = 0.3
HEADER_STEPS = 2.4

SUBTITLE = ("Time runs down, one row per event: {flow}. Times are ms since the first packet; "
            "idle gaps over {gap} are cut out. Arrows slant only to show direction "
            "(capture time = both ends on loopback).")


def _lane_x(actor: str | None) -> float:
    return CLIENT_X if actor == "client" else SERVER_X if actor == "server" else PACKET_LABEL_X


def plot_ladder(timeline: pd.DataFrame, flow: str | int | None = None, highlights: Any = None,
                title: str | None = None) -> Figure:
    """The ladder diagram of ``flow`` (default: the first flow that fails) as a Figure.

    ``highlights``: the causal chain to annotate; anything :func:`highlights_from`
    accepts (Highlights, ``(frame or ts_ns, actor, label)`` tuples, a Diagnosis).
    """
    flow_id = select.resolve_flow(timeline, flow)
    rows = select.flow_rows(timeline, flow_id).reset_index(drop=True)
    chain = match(highlights_from(highlights), rows)
    axis = timeaxis.build(rows["ts_ns"].to_numpy(), [2.0 if i in chain else 1.0 for i in rows.index])

    handles = figs.legend_handles(rows, highlighted=bool(chain), broken=bool(axis.breaks))
    title = title or f"Connection {flow_id}"
    subtitle = SUBTITLE.format(flow=flow_id.replace(">", " → "),
                               gap=format_duration_ns(timeaxis.DEFAULT_BREAK_AFTER_NS))
    top_in = figs.title_height_in(title, subtitle)
    bottom_in = figs.legend_height_in(len(handles)) + 0.1
    span = axis.end - (axis.start - HEADER_STEPS)
    height_in = top_in + span * ROW_IN + bottom_in
    fig = figs.new_figure(figs.WIDTH_IN, height_in)
    ax = fig.add_axes((0.0, bottom_in / height_in, 1.0, span * ROW_IN / height_in))
    ax.set_xlim(0, 100)
    ax.set_ylim(axis.end, axis.start - HEADER_STEPS)  # time runs down
    ax.set_axis_off()

    _draw_lanes(ax, axis, flow_id)
    figs.draw_breaks(ax, axis, vertical_time=True, label_at=PACKET_LABEL_X)
    for i, row in rows.iterrows():
        y = float(axis.positions[i])
        steps = chain.get(i, [])
        if steps:
            _draw_highlight(ax, row, y, axis.step, steps)
        ax.text(TIME_X, y, format_t_rel(float(row["t_rel"])) if "t_rel" in row else "", ha="right", va="center",
                fontsize=style.SMALL_FONT_SIZE, color="#555555", family="DejaVu Sans Mono")
        if str(row["source"]) == "packet":
            _draw_packet(ax, row, y, axis.step, emphasis=bool(steps))
        else:
            _draw_event(ax, row, y, emphasis=bool(steps))

    figs.draw_title(fig, title, subtitle)
    figs.draw_legend(fig, handles)
    return fig


def _draw_lanes(ax, axis: timeaxis.TimeAxis, flow_id: str) -> None:
    client, server = select.endpoints(flow_id)
    for x, name, address in ((CLIENT_X, "client", client), (SERVER_X, "server", server)):
        for start, end in axis.segments():
            ax.plot([x, x], [start, end], color="black", linewidth=1.1, zorder=1, solid_capstyle="butt")
        for brk in axis.breaks:  # dotted through the cut, so the lane reads as continuing
            ax.plot([x, x], [brk.pos_start, brk.pos_end], color="black", linewidth=1.0, linestyle=(0, (1, 2)),
                    zorder=1)
        ax.text(x, axis.start - HEADER_STEPS / 2, f"{name}\n{address}", ha="center", va="center",
                fontsize=style.FONT_SIZE, fontweight="bold", linespacing=1.1,
                bbox=dict(boxstyle="round,pad=0.25", facecolor="#EEEEEE", edgecolor="black", linewidth=0.8))


def _draw_packet(ax, row: pd.Series, y: float, step: float, emphasis: bool) -> None:
    ps = style.packet_style(str(row["kind"]))
    actor = select.text(row["actor"])
    start, end = (SERVER_X, CLIENT_X) if actor == "server" else (CLIENT_X, SERVER_X)
    arrow = FancyArrowPatch((start, y - SLANT * step), (end, y + SLANT * step), arrowstyle="-|>",
                            mutation_scale=10 if not emphasis else 13, color=ps.colour,
                            linewidth=ps.linewidth * (1.4 if emphasis else 1.0), linestyle=ps.linestyle,
                            shrinkA=0, shrinkB=0, zorder=3)
    ax.add_patch(arrow)
    ax.text(PACKET_LABEL_X, y, packet_label(row.to_dict()), ha="center", va="center",
            fontsize=style.SMALL_FONT_SIZE + 0.5, zorder=4, fontweight="bold" if emphasis else "normal",
            color="#222222" if str(row["kind"]) in ("SYN", "SYN-ACK", "ACK") else "black",
            bbox=dict(boxstyle="round,pad=0.12", facecolor="white", edgecolor="none", alpha=0.9))


def _draw_event(ax, row: pd.Series, y: float, emphasis: bool) -> None:
    es = style.event_style(str(row["source"]), str(row["kind"]), select.text(row.get("errno")))
    actor = select.text(row["actor"])
    x = _lane_x(actor)
    ax.plot([x], [y], linestyle="none", marker=es.marker, markersize=8.5 if emphasis else 6.5, color=es.colour,
            markeredgecolor="black", markeredgewidth=1.2 if emphasis else 0.5, zorder=4)
    left = actor == "client"
    ax.text(x - LABEL_GAP if left else x + LABEL_GAP, y, event_label(row.to_dict()), ha="right" if left else "left",
            va="center", fontsize=style.FONT_SIZE, fontweight="bold" if emphasis else "normal",
            color="black", zorder=4)


def _draw_highlight(ax, row: pd.Series, y: float, step: float, steps: list) -> None:
    """Band over the row and its annotation row; the chain's words in the row above."""
    ax.axhspan(y - 1.5 * step, y + 0.5 * step, xmin=0.02, xmax=0.98, facecolor=style.HIGHLIGHT_FILL, alpha=0.45,
               edgecolor="none", zorder=0)
    words = "  ".join(f"{style.badge(position)} {h.label}" for position, h in steps)
    actor = select.text(row["actor"])
    if str(row["source"]) == "packet" or actor is None:
        x, ha = PACKET_LABEL_X, "center"
    elif actor == "client":
        x, ha = CLIENT_X - LABEL_GAP, "right"
    else:
        x, ha = SERVER_X + LABEL_GAP, "left"
    ax.text(x, y - step, words, ha=ha, va="center", fontsize=style.FONT_SIZE, fontweight="bold", color="black",
            zorder=5)
