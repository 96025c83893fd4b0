"""`abortscope plot`: draw a connection as a ladder diagram, a lane timeline or a time-sequence graph."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from abortscope.console import fail, out, warn
from analysis.errors import AbortscopeError


class Kind(str, Enum):
    ladder = "ladder"
    lanes = "lanes"
    tseq = "tseq"


def plot(
    path: Path = typer.Argument(..., help="A pcap/pcapng file or a run bundle directory."),
    output: Path = typer.Option(..., "-o", "--output", help="Image to write: FILE.svg or FILE.png."),
    kind: Kind = typer.Option(Kind.ladder, "--kind", help="ladder: one connection, time down; lanes: one lane per "
                              "observer, all connections; tseq: sequence numbers over time."),
    flow: Optional[str] = typer.Option(None, "--flow", help="Connection: its id (client_ip:port>server_ip:port), "
                                       "its number (1 = first), or a unique part (':39262'). Default: the first "
                                       "one that fails."),
    title: Optional[str] = typer.Option(None, "--title", help="Title (default: the scenario, from meta.json, "
                                        "and the verdict)."),
    dpi: int = typer.Option(100, "--dpi", min=30, max=600, help="PNG resolution: 100 gives 800 px wide."),
    no_chain: bool = typer.Option(False, "--no-chain", help="Do not annotate the diagnosis' causal chain."),
) -> None:
    """Draw one connection (or all, with --kind lanes) to an SVG or PNG image."""
    from analysis import load
    from analysis.plots import PLOTS, resolve_flow, save, scenario_title
    from analysis.plots.bundle_figures import diagnosis_for

    if output.suffix.lower() not in (".svg", ".png"):
        raise fail(f"-o {output}: the image must end in .svg or .png")
    if not output.parent.is_dir():  # say so now, not after reading the capture
        raise fail(f"{output}: no directory {output.parent}")
    try:
        timeline = load(path)
        for message in (*timeline.report.warnings, *timeline.warnings):
            warn(message)
        flow_id = resolve_flow(timeline.events, flow)
        diagnosis = None if no_chain else diagnosis_for(timeline, flow_id)
        meta = timeline.meta or {}
        what = {"ladder": None, "lanes": "lane timeline", "tseq": "time-sequence graph"}[kind.value]
        title = title or scenario_title(meta, diagnosis, what=what) or None
        if kind is Kind.lanes:
            figure = PLOTS["lanes"](timeline.events, None if flow is None else [flow_id], highlights=diagnosis,
                                    title=title)
        else:
            figure = PLOTS[kind.value](timeline.events, flow_id, highlights=diagnosis, title=title)
        save(figure, output, dpi=dpi)
    except AbortscopeError as exc:
        raise fail(str(exc))
    except OSError as exc:  # what the library did not name itself
        raise fail(f"{exc.filename or path}: {exc.strerror or exc}")
    out.print(f"{kind.value} of {flow_id if kind is not Kind.lanes or flow else 'all connections'} -> {output}")
