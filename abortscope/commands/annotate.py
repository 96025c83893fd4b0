"""`abortscope annotate`: the capture back as pcapng, with the explanation in packet comments Wireshark shows."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from abortscope.commands import common
from abortscope.commands.common import (Engine, captures_of, collector_paused, complete_verdicts, parse_verdicts,
                                       progress_bars, read_ahead)
from abortscope.console import fail, out, warn
from analysis.annotate.provenance import digest_of_capture
from analysis.errors import AbortscopeError

BIG_FILE_BYTES = common.BIG_FILE_BYTES


def annotate(
    path: Path = typer.Argument(..., help="A pcap/pcapng file or a run bundle directory."),
    output: Path = typer.Option(..., "-o", "--output", help="The pcapng file to write (not the capture itself)."),
    verdict: Optional[str] = typer.Option(
        None, "--verdict", metavar="NAME[,NAME]", autocompletion=complete_verdicts,
        help="Write only the connections with these verdicts: an extract to attach to a ticket."),
    flow: Optional[str] = typer.Option(None, "--flow", help="Write only this connection: client_ip:port>server_ip:port."),
    port: Optional[int] = typer.Option(None, "--port", help="Write only the connections with this port on either side."),
    no_events: bool = typer.Option(False, "--no-events",
                                   help="Comment the verdicts and their causal steps only, not every syscall, "
                                        "kernel and application event."),
    app: Optional[Path] = typer.Option(None, "--app", help="app.jsonl events (default: the bundle's)."),
    strace: Optional[Path] = typer.Option(None, "--strace", help="strace -f -ttt -T -yy output (default: the bundle's)."),
    kernel: Optional[Path] = typer.Option(None, "--kernel", help="tracefs text (default: the bundle's)."),
    applog: Optional[Path] = typer.Option(None, "--applog", help="Application log lines in Go's log format."),
    tz: Optional[str] = typer.Option(None, "--tz", help="Time zone of --applog timestamps, an IANA name such as "
                                     "Europe/Paris (default: UTC, as a run bundle's server.log is written)."),
) -> None:
    """Write the capture as pcapng with packet comments: each connection's verdict on its first frame, the
    causal steps numbered as in the ladder, and the syscall, kernel and application events on the frames
    they follow. The packets are the input's, byte for byte."""
    if flow is not None and port is not None:
        raise fail("give --flow or --port, not both")
    if not output.parent.is_dir():  # say so now, not after reading a big capture
        raise fail(f"{output}: no directory {output.parent}")
    chosen = parse_verdicts(verdict)
    logs = {"app": app, "strace": strace, "kernel": kernel, "applog": applog}  # analysis.events.SOURCES names
    digest = None
    try:
        captures = captures_of([path])
        # the capture's sha256 (for the section header) is read beside the imports, while a core is free
        digest = digest_of_capture(path)
        with progress_bars(captures, "reading", "writing", big_file_bytes=BIG_FILE_BYTES) as (reading, writing), \
                read_ahead(captures, Engine.fast, reading) as ahead:
            with collector_paused():  # pandas and the analysis import while the read-ahead reads
                from analysis import Keep, Read
                from analysis.annotate import annotate as write_annotated
            done = write_annotated(path, output, verdicts=chosen, read=Read(logs=logs, tz=tz),
                                   keep=Keep(flow=flow, port=port), events=not no_events, progress=reading,
                                   write_progress=writing, ahead=ahead, digest=digest)
    except AbortscopeError as exc:
        raise fail(str(exc))
    finally:
        if digest is not None:
            digest.cancel()
    for message in done.warnings:
        warn(message)
    if chosen is not None and done.connections == 0:
        warn(f"no connection has the verdict {', '.join(chosen)}: {output} holds no packet")
    out.print(f"{output}: {done.frames_written:,} of {done.frames_analyzed:,} frames, {done.comments:,} comments "
              f"on {done.connections:,} connection(s); sources: {', '.join(done.sources)}", soft_wrap=True)
    out.print(f"list them: tshark -r {output} -Y frame.comment -T fields -e frame.number -e frame.comment",
              soft_wrap=True)
