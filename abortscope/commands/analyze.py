"""`abortscope analyze`: read a capture or run bundle (plus logs), print the diagnosis or export a table."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from abortscope.commands import common
from abortscope.commands.common import (Engine, capture_of, collector_paused, complete_verdicts, parse_verdicts,
                                       progress_bars, read_ahead, warn_if_slow_reader)
from abortscope.console import fail, out, warn
from analysis.errors import AbortscopeError

BIG_FILE_BYTES = common.BIG_FILE_BYTES  # a global of this module, so that a test can make every file big
DEFAULT_DETAILS = 10


class Format(str, Enum):
    text = "text"
    csv = "csv"
    json = "json"
    jsonl = "jsonl"
    parquet = "parquet"


class TableName(str, Enum):
    timeline = "timeline"
    connections = "connections"


def analyze(
    path: Path = typer.Argument(..., help="A pcap/pcapng file or a run bundle directory."),
    app: Optional[Path] = typer.Option(None, "--app", help="app.jsonl events (default: the bundle's)."),
    strace: Optional[Path] = typer.Option(None, "--strace", help="strace -f -ttt -T -yy output (default: the bundle's)."),
    kernel: Optional[Path] = typer.Option(None, "--kernel", help="tracefs text (default: the bundle's; needs its meta.json clock offset)."),
    applog: Optional[Path] = typer.Option(None, "--applog", help="Application log lines in Go's log format."),
    tz: Optional[str] = typer.Option(None, "--tz", help="Time zone of --applog timestamps (default: local)."),
    flow: Optional[str] = typer.Option(None, "--flow", help="Keep one connection: client_ip:port>server_ip:port."),
    port: Optional[int] = typer.Option(None, "--port", help="Keep connections with this port on either side."),
    verdict: Optional[str] = typer.Option(
        None, "--verdict", metavar="NAME[,NAME]", autocompletion=complete_verdicts,
        help="Keep connections with these verdicts (e.g. WRITE_AFTER_PEER_FIN_RST_EPIPE,ERROR_SWALLOWED_BY_APP)."),
    details: int = typer.Option(DEFAULT_DETAILS, "--details", min=0,
                                help="Text: explain this many connections, the most telling first."),
    engine: Engine = typer.Option(Engine.fast, "--engine", help="Capture reader."),
    format: Format = typer.Option(Format.text, "--format", help="text: the diagnosis; the others export --table."),
    table: TableName = typer.Option(TableName.timeline, "--table",
                                    help="What csv/json/jsonl/parquet write: the timeline (a row per event) or the "
                                         "connection table (a row per connection, with its verdict)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the export here (default: stdout; required for parquet)."),
) -> None:
    """Explain every TCP connection in a capture: who closed, who reset, which write failed and why."""
    if flow is not None and port is not None:
        raise fail("give --flow or --port, not both")
    if format is Format.parquet and output is None:
        raise fail("--format parquet needs -o FILE")
    if output is not None and not output.parent.is_dir():  # say so now, not after reading a big capture
        raise fail(f"{output}: no directory {output.parent}")
    chosen = parse_verdicts(verdict)
    options = dict(app=app, strace=strace, kernel=kernel, applog=applog, flow=flow, port=port, engine=engine.value, tz=tz)
    target = output if output is not None else out.file  # the real stdout, not the progress bar's redirect
    capture = capture_of(path)
    try:
        with progress_bars(capture, "reading", big_file_bytes=BIG_FILE_BYTES) as (progress,), \
                read_ahead(capture, engine, progress) as ahead:
            if progress is not None and engine is Engine.fast:
                warn_if_slow_reader()
            with collector_paused():  # pandas and the analysis import while the read-ahead reads
                from analysis import load
                from analysis.api import export_table, export_timeline
            options.update(ahead=ahead, progress=progress)
            if format is Format.text:
                timeline = load(path, lean=True, **options)
                connections = timeline.connections
                rows = len(connections if chosen is None else connections[connections["verdict"].isin(chosen)])
            elif table is TableName.connections or chosen is not None:
                timeline, rows = export_table(path, table.value, format.value, target, verdicts=chosen, **options)
            else:  # written as it is built: a big capture's timeline is never whole in memory
                timeline, rows = export_timeline(path, format.value, target, **options)
    except AbortscopeError as exc:
        raise fail(str(exc))
    for message in (*timeline.report.warnings, *timeline.warnings):
        warn(message)
    for linktype, count in timeline.report.skipped_linktypes.items():
        warn(f"skipped {count} records with unsupported link type {linktype}")
    if not len(timeline.flows) and not len(timeline.other_events):
        raise fail(f"nothing read from {path}: no TCP packet and no event")
    if chosen is not None and rows == 0:
        warn(f"no connection has the verdict {', '.join(chosen)}")
    if format is Format.text:
        from abortscope.text_report import print_report

        print_report(timeline, connections if chosen is None else connections[connections["verdict"].isin(chosen)],
                     details, chosen is not None)
