"""`abortscope analyze`: read a capture (one file or its pieces) or run bundle (plus logs), print the diagnosis or
export a table."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

from abortscope.console import err, fail, out, warn
from analysis.errors import AbortscopeError

BIG_FILE_BYTES = 50 * 1024 * 1024  # show a progress bar above this
DEFAULT_DETAILS = 10


class Engine(str, Enum):
    fast = "fast"
    scapy = "scapy"
    pyshark = "pyshark"


class Format(str, Enum):
    text = "text"
    csv = "csv"
    json = "json"
    jsonl = "jsonl"
    parquet = "parquet"


class TableName(str, Enum):
    timeline = "timeline"
    connections = "connections"


def _verdict_names() -> list[str]:
    from analysis.diagnosis.verdicts import Verdict  # imported when asked for: `abortscope --help` stays quick

    return [v.value for v in Verdict]


def _complete_verdicts(incomplete: str) -> list[str]:
    """Tab completion of --verdict: the verdict names, after any already typed (NAME,NAME,...)."""
    done, _, last = incomplete.rpartition(",")
    prefix = done + "," if done else ""
    return [prefix + name for name in _verdict_names() if name.startswith(last.upper())]


def _verdicts(text: str | None) -> list[str] | None:
    """--verdict's names, checked (case does not matter)."""
    if text is None:
        return None
    names = [name.strip().upper() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in _verdict_names()]
    if unknown or not names:
        raise fail(f"unknown verdict {', '.join(unknown) or repr(text)}: choose from {', '.join(_verdict_names())}")
    return names


def analyze(
    paths: list[Path] = typer.Argument(..., metavar="PATH...",
                                       help="A pcap/pcapng file, several pieces of one capture (files, a directory "
                                            "of rotated pieces, a glob), or a run bundle directory."),
    app: Optional[Path] = typer.Option(None, "--app", help="app.jsonl events (default: the bundle's)."),
    strace: Optional[Path] = typer.Option(None, "--strace", help="strace -f -ttt -T -yy output (default: the bundle's)."),
    kernel: Optional[Path] = typer.Option(None, "--kernel", help="tracefs text (default: the bundle's; needs its meta.json clock offset)."),
    applog: Optional[Path] = typer.Option(None, "--applog", help="Application log lines in Go's log format."),
    tz: Optional[str] = typer.Option(None, "--tz", help="Time zone of --applog timestamps, an IANA name such as "
                                     "Europe/Paris (default: UTC, as a run bundle's server.log is written)."),
    flow: Optional[str] = typer.Option(None, "--flow", help="Keep one connection: client_ip:port>server_ip:port."),
    port: Optional[int] = typer.Option(None, "--port", help="Keep connections with this port on either side."),
    verdict: Optional[str] = typer.Option(
        None, "--verdict", metavar="NAME[,NAME]", autocompletion=_complete_verdicts,
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
    if flow is not None and port is not None:
        raise fail("give --flow or --port, not both")
    if format is Format.parquet and output is None:
        raise fail("--format parquet needs -o FILE")
    if output is not None and not output.parent.is_dir():  # say so now, not after reading a big capture
        raise fail(f"{output}: no directory {output.parent}")
    chosen = _verdicts(verdict)
    logs = {"app": app, "strace": strace, "kernel": kernel, "applog": applog}  # analysis.events.SOURCES names
    target = output if output is not None else out.file  # the real stdout, not the progress bar's redirect
    named = paths[0] if len(paths) == 1 else paths
    try:
        captures = _captures(paths)
        with _progress(captures) as progress, _read_ahead(captures, engine, progress) as ahead:
            if progress is not None and engine is Engine.fast:
                _warn_if_slow_reader()
            with _collector_paused():  # pandas and the analysis import while the read-ahead reads
                from analysis import api
                from analysis.clock import checked_zone
            if tz is not None:
                checked_zone(tz)  # a bad --tz: one line now, not after reading a big capture
            options = dict(read=api.Read(logs=logs, engine=engine.value, tz=tz), keep=api.Keep(flow=flow, port=port),
                           ahead=ahead, progress=progress)
            if format is Format.text:
                report = api.report(named, details, chosen, **options)
                summary, rows = report.summary, report.tally.total
            elif table is TableName.connections or chosen is not None:
                summary = api.export_table(named, table.value, format.value, target, verdicts=chosen, **options)
                rows = summary.rows
            else:  # written as it is built: a big capture's timeline is never whole in memory
                summary = api.export_timeline(named, format.value, target, **options)
                rows = summary.rows
    except AbortscopeError as exc:
        raise fail(str(exc))
    except OSError as exc:  # what the library did not name itself (a bundle directory we may not list, say)
        raise fail(f"{exc.filename or named}: {exc.strerror or exc}")
    _warn_about(summary, paths)
    if chosen is not None and rows == 0:
        warn(f"no connection has the verdict {', '.join(chosen)}")
    if format is Format.text:
        _report(report, details, chosen is not None, output)


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


def _warn_if_slow_reader() -> None:
    from analysis.pcap.walk import ACCELERATED

    if not ACCELERATED:
        warn("the reader's C part (analysis/pcap/csrc/) is not built, so big files read about 3 times slower: "
             "install gcc and python3-dev (sudo apt-get install -y gcc python3-dev), then reinstall: .venv/bin/pip install -e .")


@contextmanager
def _collector_paused():
    """No cyclic garbage collection while importing: imports make some 200,000 long-lived objects and no
    garbage, and the collections they trigger cost 0.03 s of a one-second run."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _captures(paths: list[Path]):
    """The capture set the paths name (a bundle's capture), for the read-ahead; None when load() must say why not."""
    from analysis.bundle import BundlePaths, is_bundle
    from analysis.stream.files import capture_set

    if len(paths) == 1 and paths[0].is_dir() and is_bundle(paths[0]):
        capture = BundlePaths(paths[0]).capture
        return capture_set([capture]) if capture.is_file() else None
    return capture_set(paths)


def _read_ahead(captures, engine: Engine, progress):
    """The fast engine's read of the capture set, started now (analysis.stream.reading); a null context when it
    cannot start."""
    from contextlib import nullcontext

    if engine is not Engine.fast or captures is None:
        return nullcontext()  # load() reports what is wrong with the path
    from analysis.stream.reading import BatchRead  # numpy and the C module only: quick

    return BatchRead(captures, progress)


class _progress:
    """Context manager giving a (done, total) callback with a bar for big files, None otherwise."""

    def __init__(self, captures):
        self.enabled = captures is not None and captures.bytes >= BIG_FILE_BYTES
        self.bar = None

    def __enter__(self):
        if not self.enabled:
            return None
        self.bar = Progress("reading", BarColumn(), DownloadColumn(), TimeRemainingColumn(), console=err, transient=True)
        self.bar.start()
        task = self.bar.add_task("read", total=None)

        def update(done: int, total: int) -> None:
            self.bar.update(task, completed=done, total=total)

        return update

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False
