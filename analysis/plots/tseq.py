"""Stevens-style time-sequence graph of one connection: relative seq over time, per direction.

One panel per direction (server → client on top: the response is where a
write fails), because the two directions' byte counts differ by orders of
magnitude. In each panel, as tcptrace draws it:

- a data segment is a vertical I-beam from its first to its last seq + 1;
- SYN and FIN take one sequence number each and are drawn as labelled
  markers at their seq; a RST is a red cross at its seq;
- the grey step line is what the *other* side acknowledged (its ack field),
  so a gap between the data and the ack line is data in flight.

The time axis is the ladder's compressed axis (:mod:`.timeaxis`), built on
the packet instants of the flow, with the same cut-out gaps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from analysis.plots import figure as figs
from analysis.plots import layout, select, style, timeaxis
from analysis.plots.labels import event_label, format_duration_ns

PANEL_IN = 2.0
PANEL_GAP_IN = 0.35
LEFT_IN = 0.85
RIGHT_IN = 0.2
BELOW_IN = 0.62
LABEL_SIZE = style.SMALL_FONT_SIZE
#: Direction of the panel (sender), top first.
PANELS = (("server", "server → client"), ("client", "client → server"))
#: Syscalls drawn at the bottom of their sender's panel: where the application met the connection.
WRITE_KINDS = ("write", "write_error")
WRITES_Y = -0.12  # fraction of the panel's seq range, below seq 0


def plot_tseq(timeline: pd.DataFrame, flow: str | int | None = None, title: str | None = None,
              highlights: Any = None) -> Figure:
    """Time-sequence graph of ``flow`` (default: the first flow that fails) as a Figure.

    ``highlights`` is accepted for a uniform API and ignored: the chain is drawn on the ladder.
    """
    flow_id = select.resolve_flow(timeline, flow)
    rows = select.flow_rows(timeline, flow_id)
    packets = rows[rows["source"].astype("string") == "packet"].reset_index(drop=True)
    if packets.empty:
        raise select.PlotInputError(f"flow {flow_id} has no packets: nothing to draw in a time-sequence graph")
    writes = rows[rows["kind"].astype("string").isin(WRITE_KINDS)
                  & (rows["source"].astype("string") == "syscall")].reset_index(drop=True)
    axis = timeaxis.build(np.unique(np.concatenate([packets["ts_ns"].to_numpy(), writes["ts_ns"].to_numpy()])))
    panels = [(actor, name) for actor, name in PANELS
              if (packets["actor"].astype("string") == actor).any()] or [(None, "packets")]

    title = title or f"Time-sequence graph: {flow_id}"
    subtitle = ("Relative sequence number over time, per direction (Stevens / tcptrace style). Times are ms since "
                f"the first packet; idle gaps over {format_duration_ns(timeaxis.DEFAULT_BREAK_AFTER_NS)} cut out.")
    handles = _legend()
    top_in = figs.title_height_in(title, subtitle) + 0.1
    bottom_in = figs.legend_height_in(len(handles)) + BELOW_IN
    height_in = top_in + len(panels) * PANEL_IN + (len(panels) - 1) * PANEL_GAP_IN + bottom_in
    fig = figs.new_figure(figs.WIDTH_IN, height_in)
    axes_w_in = figs.WIDTH_IN - LEFT_IN - RIGHT_IN
    in_per_unit = axes_w_in / (axis.end - axis.start)
    t0 = int(packets["ts_ns"].min())
    for n, (actor, name) in enumerate(panels):
        bottom = height_in - top_in - (n + 1) * PANEL_IN - n * PANEL_GAP_IN
        ax = fig.add_axes((LEFT_IN / figs.WIDTH_IN, bottom / height_in, axes_w_in / figs.WIDTH_IN,
                           PANEL_IN / height_in))
        ax.set_xlim(axis.start, axis.end)
        figs.draw_breaks(ax, axis, vertical_time=False, label_at=None)
        _draw_direction(ax, packets, writes, actor, axis, in_per_unit)
        ax.set_ylabel(f"{name}\nrelative seq (bytes)", fontsize=LABEL_SIZE)
        ax.tick_params(labelsize=LABEL_SIZE)
        ax.grid(axis="y", color="#E5E5E5", linewidth=0.6)
        last = n == len(panels) - 1
        figs.draw_time_ticks(ax, axis, t0, in_per_unit, labelled=last)
        if last:
            for brk in axis.breaks:
                ax.annotate(f"≈ {format_duration_ns(brk.duration_ns)} cut", (brk.middle, 0),
                            xycoords=ax.get_xaxis_transform(), xytext=(0, -17), textcoords="offset points",
                            ha="center", va="top", fontsize=LABEL_SIZE, style="italic", color="#333333")
    figs.draw_title(fig, title, subtitle)
    figs.draw_legend(fig, handles)
    return fig


def _draw_direction(ax, packets: pd.DataFrame, writes: pd.DataFrame, actor: str | None,
                    axis: timeaxis.TimeAxis, in_per_unit: float) -> None:
    actors = packets["actor"].astype("string")
    mine = packets[(actors == actor).fillna(False)] if actor else packets
    theirs = packets[(actors != actor).fillna(False)] if actor else packets[:0]
    colour = style.DIRECTION_COLOURS.get(actor or "", style.PALETTE["black"])
    top = 1
    notes: list[tuple[float, float, str, str]] = []  # x, y, text, colour
    for _, p in mine.iterrows():
        x = float(axis.position(int(p["ts_ns"])))
        seq = _num(p["seq"])
        length = _num(p["len"]) or 0
        if seq is None:
            continue
        kind = str(p["kind"])
        top = max(top, seq + max(length, 1))
        if length > 0:
            ax.plot([x, x], [seq, seq + length], color=colour, linewidth=1.8, zorder=3)
            ax.plot([x, x], [seq, seq + length], linestyle="none", marker="_", markersize=7, color=colour, zorder=3)
            notes.append((x, seq + length, f"{seq}:{seq + length}", colour))
        if kind in ("SYN", "SYN-ACK", "FIN"):
            ps = style.packet_style(kind)
            ax.plot([x], [seq + length], linestyle="none", marker="o" if kind != "FIN" else "s", markersize=6,
                    color=ps.colour, markeredgecolor="black", markeredgewidth=0.5, zorder=4)
            notes.append((x, seq + length, kind, ps.colour if kind == "FIN" else "#333333"))
        elif kind == "RST":
            ax.plot([x], [seq], linestyle="none", marker="X", markersize=9, color=style.PACKET_STYLES["RST"].colour,
                    markeredgecolor="black", markeredgewidth=0.5, zorder=4)
            notes.append((x, seq, "RST", style.PACKET_STYLES["RST"].colour))
    acks = theirs.dropna(subset=["ack"]) if "ack" in theirs else theirs[:0]
    if len(acks):
        xs = [float(axis.position(int(t))) for t in acks["ts_ns"]] + [axis.end]
        ys = [int(a) for a in acks["ack"]]
        ax.step(xs, ys + ys[-1:], where="post", color=style.PALETTE["grey"], linewidth=1.0, zorder=2)
        top = max(top, max(ys))
    for _, w in writes[(writes["actor"].astype("string") == actor).fillna(False)].iterrows() if actor else ():
        es = style.event_style("syscall", str(w["kind"]), select.text(w.get("errno")))
        x = float(axis.position(int(w["ts_ns"])))
        ax.plot([x], [WRITES_Y * top], linestyle="none", marker=es.marker, markersize=6, color=es.colour,
                markeredgecolor="black", markeredgewidth=0.5, zorder=4)
        notes.append((x, WRITES_Y * top, event_label(w.to_dict(), short=True), "#333333"))
    ax.set_ylim(1.6 * WRITES_Y * top, 1.3 * top)
    # ticks on the sequence space only: the band below 0 holds the write() markers
    ax.set_yticks([t for t in MaxNLocator(nbins=5, integer=True).tick_values(0, top) if 0 <= t <= 1.2 * top])
    _draw_notes(ax, notes, in_per_unit, top)


def _draw_notes(ax, notes: list, in_per_unit: float, top: float) -> None:
    """Labels beside their marker (left of it in the last quarter of the axis); labels of one
    height band (the syscall row, the seq area) that would touch are lifted one text row."""
    x0, x1 = ax.get_xlim()
    bands: dict[bool, list[int]] = {}
    for n, (_, y, _, _) in enumerate(notes):
        bands.setdefault(y < 0, []).append(n)
    for members in bands.values():
        intervals, sides = [], []
        for n in members:
            x, _, text, _ = notes[n]
            at, width = (x - x0) * in_per_unit, layout.text_width_in(text, LABEL_SIZE) + 0.06
            left = x > x0 + 0.75 * (x1 - x0)
            intervals.append((at - width, at) if left else (at, at + width))
            sides.append(left)
        for n, left, r in zip(members, sides, layout.stack(intervals, gap=0.04)):
            x, y, text, colour = notes[n]
            below = y < 0
            ax.annotate(text, (x, y), xytext=(-4 if left else 4, (0 if below else 2) + 10 * r),
                        textcoords="offset points", fontsize=LABEL_SIZE, color=colour, ha="right" if left else "left",
                        va="center" if below else "bottom", zorder=5,
                        fontweight="bold" if text in ("FIN", "RST") else "normal")


def _num(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _legend() -> list:
    return [
        Line2D([], [], color=style.DIRECTION_COLOURS["server"], linewidth=1.8, marker="_",
               label="data sent by the server (seq range)"),
        Line2D([], [], color=style.DIRECTION_COLOURS["client"], linewidth=1.8, marker="_",
               label="data sent by the client (seq range)"),
        Line2D([], [], color=style.PALETTE["grey"], linewidth=1.0, label="acknowledged by the peer"),
        Line2D([], [], linestyle="none", marker="s", color=style.PACKET_STYLES["FIN"].colour,
               markeredgecolor="black", markeredgewidth=0.5, label="FIN"),
        Line2D([], [], linestyle="none", marker="X", color=style.PACKET_STYLES["RST"].colour, markersize=8,
               markeredgecolor="black", markeredgewidth=0.5, label="RST"),
        Line2D([], [], linestyle="none", marker="o", color=style.PACKET_STYLES["SYN"].colour,
               markeredgecolor="black", markeredgewidth=0.5, label="SYN / SYN-ACK"),
        Line2D([], [], linestyle="none", marker="o", color=style.EVENT_STYLES["syscall", "write"].colour,
               markeredgecolor="black", markeredgewidth=0.5, label="write() syscall (bottom)"),
        Line2D([], [], linestyle="none", marker="X", color=style.EVENT_STYLES["syscall", "write_error"].colour,
               markeredgecolor="black", markeredgewidth=0.5, label="write() failed (bottom)"),
    ]
