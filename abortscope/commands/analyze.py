"""`abortscope analyze`: read a capture or run bundle (plus logs), print the diagnosis or export the timeline."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.markup import escape
from rich.table import Table

from abortscope.console import err, fail, out, warn
from analysis.errors import AbortscopeError

BIG_FILE_BYTES = 50 * 1024 * 1024  # show a progress bar above this
MAX_DETAILED_FLOWS = 10
MAX_TIMELINE_ROWS = 40


class Engine(str, Enum):
    fast = "fast"
    scapy = "scapy"
    pyshark = "pyshark"


class Format(str, Enum):
    text = "text"
    csv = "csv"
    json = "json"
    parquet = "parquet"


def analyze(
    path: Path = typer.Argument(..., help="A pcap/pcapng file or a run bundle directory."),
    app: Optional[Path] = typer.Option(None, "--app", help="app.jsonl events (default: the bundle's)."),
    strace: Optional[Path] = typer.Option(None, "--strace", help="strace -f -ttt -T -yy output (default: the bundle's)."),
    kernel: Optional[Path] = typer.Option(None, "--kernel", help="tracefs text (default: the bundle's; needs its meta.json clock offset)."),
    applog: Optional[Path] = typer.Option(None, "--applog", help="Application log lines in Go's log format."),
    tz: Optional[str] = typer.Option(None, "--tz", help="Time zone of --applog timestamps, an IANA name such as "
                                     "Europe/Paris (default: UTC, as a run bundle's server.log is written)."),
    flow: Optional[str] = typer.Option(None, "--flow", help="Keep one connection: client_ip:port>server_ip:port."),
    port: Optional[int] = typer.Option(None, "--port", help="Keep connections with this port on either side."),
    engine: Engine = typer.Option(Engine.fast, "--engine", help="Capture reader."),
    format: Format = typer.Option(Format.text, "--format", help="text: diagnosis + compact timeline; others export the timeline."),
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
    options = dict(app=app, strace=strace, kernel=kernel, applog=applog, flow=flow, port=port, engine=engine.value, tz=tz)
    target = output if output is not None else out.file  # the real stdout, not the progress bar's redirect
    try:
        capture = _capture_of(path)
        with _progress(capture) as progress, _read_ahead(capture, engine, progress) as ahead:
            if progress is not None and engine is Engine.fast:
                _warn_if_slow_reader()
            with _collector_paused():  # pandas and the analysis import while the read-ahead reads
                from analysis import load
                from analysis.api import export_timeline
                from analysis.clock import checked_zone
            if tz is not None:
                checked_zone(tz)  # a bad --tz: one line now, not after reading a big capture
            options["ahead"] = ahead
            if format is Format.text:
                timeline = load(path, progress=progress, lean=True, **options)
                rows = len(timeline.events)
            else:  # written as it is built: a big capture's timeline is never whole in memory
                timeline, rows = export_timeline(path, format.value, target, progress=progress, **options)
    except AbortscopeError as exc:
        raise fail(str(exc))
    except OSError as exc:  # what the library did not name itself (a bundle directory we may not list, say)
        raise fail(f"{exc.filename or path}: {exc.strerror or exc}")
    for message in (*timeline.report.warnings, *timeline.warnings):
        warn(message)
    for linktype, count in timeline.report.skipped_linktypes.items():
        warn(f"skipped {count} records with unsupported link type {linktype}")
    if rows == 0:
        raise fail(f"nothing read from {path}: no TCP packet and no event")
    if format is Format.text and output is not None:
        _write_text(timeline, output)
    elif format is Format.text:
        _print_text(timeline)


#: The text report written to a file (-o): plain text, lines this wide before they are cut.
REPORT_FILE_WIDTH = 200


def _write_text(timeline, output: Path) -> None:
    """The text report into ``output``: _print_text's lines, through a console on the file (no colour codes)."""
    global out
    terminal = out
    try:
        with open(output, "w", encoding="utf-8") as file:
            out = Console(file=file, width=REPORT_FILE_WIDTH, color_system=None, highlight=False, soft_wrap=False)
            _print_text(timeline)
    except OSError as exc:
        raise fail(f"{output}: cannot write the report ({exc.strerror or exc})")
    finally:
        out = terminal


def _warn_if_slow_reader() -> None:
    from analysis.pcap.walk import ACCELERATED

    if not ACCELERATED:
        warn("the reader's C part (analysis/pcap/_native.c) is not built, so big files read about 3 times slower: "
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


def _capture_of(path: Path) -> Path:
    from analysis.bundle import BundlePaths

    return BundlePaths(path).capture if path.is_dir() else path


def _read_ahead(capture: Path, engine: Engine, progress):
    """The fast engine's read of the capture, started now (analysis.pcap.ahead); a null context when it cannot start."""
    from contextlib import nullcontext

    if engine is not Engine.fast or not capture.is_file():
        return nullcontext()  # load() reports what is wrong with the path
    from analysis.pcap.ahead import ReadAhead  # numpy and the C module only: quick

    return ReadAhead(capture, progress)


class _progress:
    """Context manager giving a (done, total) callback with a bar for big files, None otherwise."""

    def __init__(self, capture: Path):
        self.enabled = capture.is_file() and capture.stat().st_size >= BIG_FILE_BYTES
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


def _print_text(timeline) -> None:
    diagnoses = timeline.diagnose()
    out.print(f"[bold]{len(timeline.flows)} connection(s)[/], {len(timeline.packets)} packets; "
              f"sources: {', '.join(timeline.sources)}")
    if len(diagnoses) > MAX_DETAILED_FLOWS:
        counts = Table("verdict", "connections", title="verdicts")
        for verdict, n in _count(d.verdict.value for d in diagnoses):
            counts.add_row(verdict, str(n))
        out.print(counts)
        boring = {"NORMAL_CLOSE", "OPEN", "HALF_CLOSE_CLEAN"}
        diagnoses = [d for d in diagnoses if d.verdict.value not in boring][:MAX_DETAILED_FLOWS]
        out.print(f"details for the first {len(diagnoses)} connections that did not close cleanly:")
    for d in diagnoses:
        out.print()
        out.print(f"[bold cyan]{d.flow}[/]  [bold]{d.verdict.value}[/]  [dim]{d.conn_state} {d.history}"
                  f"{' (roles guessed)' if d.role_guessed else ''}[/]")
        out.print(f"  {escape(d.summary)}")
        for sentence in d.sentences:
            out.print(f"  • {escape(sentence)}")
        out.print()
        _print_timeline(timeline.flow_events(d.flow), set(d.frames))


def _count(values):
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])


def _print_timeline(events, evidence_frames: set[int]) -> None:
    """One line per event (cut at the terminal's width): time, source, actor, kind, then what matters for that source."""
    rows = events
    if len(rows) > MAX_TIMELINE_ROWS:
        keep = (rows["source"] != "packet") | ~rows["kind"].isin(["ACK", "DATA"]) | rows["frame"].isin(list(evidence_frames))
        rows = rows[keep.fillna(True)]
    for r in rows.head(MAX_TIMELINE_ROWS * 2).itertuples(index=False):
        if r.source == "packet":
            what = f"#{r.frame} {r.flags} seq={_s(r.seq)} ack={_s(r.ack)} len={_s(r.len)}"
        else:
            what = " ".join(x for x in (_s(r.errno), _s(r.detail)) if x)
        evidence = (not _is_na(r.frame) and int(r.frame) in evidence_frames) or isinstance(r.errno, str)
        line = f"{r.t_rel:+10.6f}  {str(r.source):<7} {_s(r.actor):<6} {str(r.kind):<12} {what}"
        out.print(line, markup=False, highlight=False, no_wrap=True, overflow="ellipsis", style="bold" if evidence else None)


def _is_na(value) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))


def _s(value) -> str:
    try:
        import pandas as pd

        if value is None or pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def _short(detail, width: int = 70) -> str:
    text = _s(detail)
    return text if len(text) <= width else text[: width - 1] + "…"
