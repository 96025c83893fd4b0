"""`abortscope analyze`: read a capture (one file or its pieces) or run bundle (plus logs), print the diagnosis or
export a table."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from abortscope.commands import common
from abortscope.commands.common import (Engine, captures_of, collector_paused, complete_verdicts, parse_verdicts,
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
    paths: list[Path] = typer.Argument(..., metavar="PATH...",
                                       help="A pcap/pcapng file, several pieces of one capture (files, a directory "
                                            "of rotated pieces, a glob), or a run bundle directory."),
    app: Optional[Path] = typer.Option(None, "--app", help="app.jsonl events (default: the bundle's)."),
    strace: Optional[Path] = typer.Option(None, "--strace", help="strace -f -ttt -T -yy output (default: the bundle's)."),
    kernel: Optional[Path] = typer.Option(None, "--kernel", help="tracefs text (default: the bundle's; needs its meta.json clock offset)."),
    applog: Optional[Path] = typer.Option(None, "--applog", help="An application's log (Go's log format unless "
                                          "--applog-format names another)."),
    applog_format: str = typer.Option("applog", "--applog-format", help="Format of --applog: applog (Go), nginx, "
                                      "nginx_access, python, node, java, jsonl."),
    tz: Optional[str] = typer.Option(None, "--tz", help="Time zone of --applog timestamps, an IANA name such as "
                                     "Europe/Paris (default: UTC, as a run bundle's server.log is written)."),
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
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the report or the export here "
                                          "(default: stdout; required for parquet)."),
) -> None:
    """Explain every TCP connection in a capture: who closed, who reset, which write failed and why."""
    _refuse_early(flow, port, format, output)
    chosen = parse_verdicts(verdict)
    logs = {"app": app, "strace": strace, "kernel": kernel, "applog": None}  # analysis.events.SOURCES names
    if applog is not None:
        logs[applog_format] = applog  # an unknown name is refused by the reader, naming the known ones
    target = output if output is not None else out.file  # the real stdout, not the progress bar's redirect
    named = paths[0] if len(paths) == 1 else paths
    try:
        captures = captures_of(paths)
        with progress_bars(captures, "reading", big_file_bytes=BIG_FILE_BYTES) as (progress,), \
                read_ahead(captures, engine, progress) as ahead:
            if progress is not None and engine is Engine.fast:
                warn_if_slow_reader()
            with collector_paused():  # pandas and the analysis import while the read-ahead reads
                from analysis import api
            _refuse_bad_values(tz, applog, applog_format)
            options = dict(read=api.Read(logs=logs, engine=engine.value, tz=tz), keep=api.Keep(flow=flow, port=port),
                           ahead=ahead, progress=progress)
            report, summary, rows = _read(api, named, format, table, chosen, details, target, options)
    except AbortscopeError as exc:
        raise fail(str(exc))
    except OSError as exc:  # what the library did not name itself (a bundle directory we may not list, say)
        raise fail(f"{exc.filename or named}: {exc.strerror or exc}")
    _warn_about(summary, paths)
    if chosen is not None and rows == 0:
        warn(f"no connection has the verdict {', '.join(chosen)}")
    if format is Format.text:
        _report(report, details, chosen is not None, output)


def _read(api, named, format: Format, table: TableName, chosen: list[str] | None, details: int, target, options: dict):
    """(the text report or None, what was read, rows reported or written): the report, or the export asked for."""
    if format is Format.text:
        report = api.report(named, details, chosen, **options)
        return report, report.summary, report.tally.total
    if table is TableName.connections or chosen is not None:
        summary = api.export_table(named, table.value, format.value, target, verdicts=chosen, **options)
    else:  # written as it is built: a big capture's timeline is never whole in memory
        summary = api.export_timeline(named, format.value, target, **options)
    return None, summary, summary.rows


def _refuse_early(flow: str | None, port: int | None, format: Format, output: Path | None) -> None:
    """Options that cannot go together, said before anything is read."""
    if flow is not None and port is not None:
        raise fail("give --flow or --port, not both")
    if format is Format.parquet and output is None:
        raise fail("--format parquet needs -o FILE")
    if output is not None and not output.parent.is_dir():  # say so now, not after reading a big capture
        raise fail(f"{output}: no directory {output.parent}")


def _refuse_bad_values(tz: str | None, applog: Path | None, applog_format: str) -> None:
    """A --tz that is no zone, an --applog-format that is no format: one line now, not after reading a big
    capture (pattern is record's: it has the --applog-pattern this command has not)."""
    from analysis.clock import checked_zone
    from analysis.events import check_log_format

    if tz is not None:
        checked_zone(tz)
    if applog is not None:
        check_log_format(applog_format, but=("pattern",))


#: The text report written to a file (-o): plain text, lines this wide before they are cut.
REPORT_FILE_WIDTH = 200


def _report(report, details: int, chosen: bool, output: Path | None) -> None:
    """The text report on the terminal, or into ``output`` as plain text (no colour codes)."""
    from abortscope.text_report import print_report

    if output is None:
        print_report(out, report, details, chosen)
        return
    try:
        with open(output, "w", encoding="utf-8") as file:
            console = Console(file=file, width=REPORT_FILE_WIDTH, color_system=None, highlight=False, soft_wrap=False)
            print_report(console, report, details, chosen)
    except OSError as exc:
        raise fail(f"{output}: cannot write the report ({exc.strerror or exc})")


def _warn_about(summary, paths: list[Path]) -> None:
    """What the reader and the analysis noticed; nothing read at all is an error."""
    for message in (*summary.report.warnings, *summary.warnings):
        warn(message)
    for linktype, count in summary.report.skipped_linktypes.items():
        warn(f"skipped {count} records with unsupported link type {linktype}")
    if not summary.connections and not summary.events:
        raise fail(f"nothing read from {', '.join(map(str, paths))}: no TCP packet and no event")
