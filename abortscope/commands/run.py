"""`abortscope run`: reproduce the abort scenario and record every layer into a run bundle."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from abortscope.commands.server_options import FORCE, HOST, SERVER_OPTIONS, check_host, with_server_options
from abortscope.console import err, fail, out, warn
from analysis.bundle import is_bundle
from analysis.bundle_outputs import write_outputs
from analysis.errors import AbortscopeError, BundleError
from capture.phases import Phase
from capture.server_options import ServerOptions

if TYPE_CHECKING:
    from capture.scenario import RunResult

EXIT_INTERRUPTED = 130


class Server(str, Enum):
    go = "go"
    python = "python"
    python_raw = "python-raw"
    node = "node"


class Client(str, Enum):
    curl = "curl"
    socket_fin = "socket-fin"
    socket_rst = "socket-rst"
    half_close = "half-close"
    browser = "browser"
    browser_close = "browser-close"
    refused = "refused"


class Proxy(str, Enum):
    none = ""
    nginx = "nginx"
    go = "go"


class Backend(str, Enum):
    tcpdump = "tcpdump"
    scapy = "scapy"
    dumpcap = "dumpcap"


PHASE_TEXT: dict[Phase, str] = {
    Phase.PREFLIGHT: "preflight",
    Phase.BUILD: "building the Go server (only on the first run, or after Go or its source changed: about a minute)",
    Phase.SERVER: "starting the server",
    Phase.RECORDERS: "starting the recorders (capture, kernel, strace)",
    Phase.CLIENT: "client connected, waiting for its abort",
    Phase.HANDLER: "waiting for the server's handler",
    Phase.DRAIN: "draining the recorders",
    Phase.STOP: "stopping the server",
    Phase.ANALYSIS: "analyzing the run (Ctrl-C skips it; the bundle is kept)",
    Phase.DONE: "writing the bundle",
}


#: phases long enough to be said on their own line, terminal or not
SAID_ALOUD = (Phase.BUILD,)


@with_server_options
def run(
    out_dir: Path = typer.Option(..., "--out", help="Bundle directory to write (created if missing)."),
    server: Server = typer.Option(Server.go, help="Server implementation."),
    client: Client = typer.Option(Client.curl, help="Client, and how it aborts."),
    size: int = typer.Option(8061, min=0, help="Response body bytes the handler writes."),
    host: str = HOST,
    abort_after: float = typer.Option(0.3, "--abort-after", min=0.0, help="Seconds before the client aborts."),
    handler_delay: float = typer.Option(1.0, "--handler-delay", min=0.0, help="Seconds the handler sleeps before writing."),
    capture: Backend = typer.Option(Backend.tcpdump, help="Packet capture backend."),
    no_strace: bool = typer.Option(False, "--no-strace", help="Do not strace the server."),
    no_kernel: bool = typer.Option(False, "--no-kernel", help="Do not record kernel TCP tracepoints."),
    options: ServerOptions = SERVER_OPTIONS,
    port: Optional[int] = typer.Option(None, "--port", min=1, max=65535, help="Server port (default: a free one)."),
    capture_iface: str = typer.Option("lo", "--capture-iface", help="Capture interface: lo, or any (Linux cooked SLL2 frames)."),
    snaplen: int = typer.Option(0, "--snaplen", min=0, help="Bytes kept per packet (0: whole packets)."),
    proxy: Proxy = typer.Option(Proxy.none, "--proxy", help="A reverse proxy between client and server: nginx, or go "
                                "(httputil.ReverseProxy); both connections are captured."),
    force: bool = FORCE,
) -> None:
    """Reproduce the broken-pipe scenario and record packets, syscalls, kernel events and app events."""
    check_host(host)
    # the harness loads only for this command: `abortscope analyze` never pays for it
    from capture.scenario import ScenarioParams

    params = ScenarioParams(
        out_dir=out_dir,
        server=server.value,
        client=client.value,
        size=size,
        host=host,
        abort_after_s=abort_after,
        handler_delay_s=handler_delay,
        capture=capture.value,
        strace=not no_strace,
        kernel=not no_kernel,
        port=port,
        capture_iface=capture_iface,
        snaplen=snaplen,
        proxy=proxy.value,
        **vars(options),
    )
    result = _run(params, force)
    try:
        _report(result)
    except KeyboardInterrupt:
        raise fail(f"interrupted while printing the summary; the run was complete: {out_dir}", code=EXIT_INTERRUPTED)


def _run(params, force: bool) -> "RunResult":
    """The run, its phases said on the terminal; every way it can fail as one line and an exit code."""
    from capture.privileges import MissingToolError, NeedsRootError
    from capture.scenario import RunInterrupted, run_scenario

    out_dir = params.out_dir
    try:
        with err.status(PHASE_TEXT[Phase.PREFLIGHT]) as status:

            def on_phase(phase: Phase) -> None:
                status.update(PHASE_TEXT[phase])
                if phase in SAID_ALOUD:  # the spinner shows on a terminal only; a minute of silence would not do
                    err.print(PHASE_TEXT[phase])

            return run_scenario(
                params,
                on_phase=on_phase,
                argv=sys.argv,
                after_run=write_outputs,  # the run's staging directory; a failure goes to meta["analysis"]
                force=force,
            )
    except (NeedsRootError, MissingToolError, BundleError) as exc:
        raise fail(str(exc))
    except RunInterrupted as exc:
        raise fail(f"interrupted: {exc}", code=EXIT_INTERRUPTED)
    except KeyboardInterrupt:  # before the run installed its own handling: nothing was started
        raise fail("interrupted before the run started; nothing was recorded", code=EXIT_INTERRUPTED)
    except (AbortscopeError, OSError) as exc:
        kept = f" (what was recorded is in {out_dir})" if is_bundle(out_dir) else ""
        raise fail(f"run failed: {exc}{kept}")


def _report(result: "RunResult") -> None:
    from capture.run_summary import lines_of

    meta = result.meta
    scenario = meta["scenario"]
    out.print(
        f"[bold]{scenario['server']}[/] server, [bold]{scenario['client']}[/] client, "
        f"{scenario['size']} bytes, abort after {scenario['abort_after_s']} s, "
        f"port {meta['server']['port']} -> {result.out_dir}",
        soft_wrap=True,
    )
    for line in lines_of(meta):
        out.print(f"  {line}", soft_wrap=True)
    for name, status in meta["recorders"].items():
        if not status.get("ran") and not str(status.get("why")).startswith("disabled"):
            warn(f"{name} not recorded: {status.get('why')}")
        for key in ("warning", "drain_error"):
            if status.get(key):
                warn(f"{name}: {status[key]}")
        if status.get("dropped_by_kernel"):
            warn(f"{name}: the kernel dropped {status['dropped_by_kernel']} packets")
    for text in meta.get("warnings", []):
        warn(text)
    analysis = meta.get("analysis") or {}
    if analysis.get("error"):
        warn(f"no timeline or figures: the analysis failed ({analysis['error']}); run `abortscope analyze {result.out_dir}`")
