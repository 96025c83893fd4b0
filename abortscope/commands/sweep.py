"""`abortscope sweep`: find the smallest response size at which the handler sees a write error, and explain it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from abortscope.commands.server_options import FORCE, HOST, LOOPBACK_HOSTS, SERVER_OPTIONS, with_server_options
from abortscope.console import err, fail, out
from analysis.errors import AbortscopeError
from capture.server_options import ServerOptions

EXIT_INTERRUPTED = 130
SINGLE_MAX = 16384
MATRIX_MAX = 32768


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [part.strip() for part in text.split(",") if part.strip()]


@with_server_options
def sweep(
    out_dir: Path = typer.Option(..., "--out", help="Directory for the probes' bundles and sweep.csv/.md/.txt/.png."),
    server: str = typer.Option("go", help="Server: go, python, python-raw, node (single sweep)."),
    client: str = typer.Option("curl", help="Client: curl, socket-fin, socket-rst, half-close, browser, browser-close."),
    min_size: int = typer.Option(1, "--min", min=0, help="Smallest body size to search."),
    max_size: Optional[int] = typer.Option(None, "--max", min=1,
                                           help=f"Largest body size (default {SINGLE_MAX}; matrix {MATRIX_MAX})."),
    matrix: bool = typer.Option(False, "--matrix", help="Every server variant x every client (see --servers/--clients)."),
    servers: Optional[str] = typer.Option(None, "--servers",
                                          help="Matrix rows, comma-separated, e.g. 'go,go -content-length,python-raw -write-size 1024'."),
    clients: Optional[str] = typer.Option(None, "--clients", help="Matrix columns, comma-separated."),
    knobs: bool = typer.Option(True, "--knobs/--no-knobs", help="Matrix: add the knob rows (abort after the write)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Parallel probes (default: the core count)."),
    host: str = HOST,
    abort_after: float = typer.Option(0.05, "--abort-after", min=0.0, help="Seconds before the client aborts."),
    handler_delay: float = typer.Option(0.2, "--handler-delay", min=0.0, help="Seconds the handler sleeps before writing."),
    options: ServerOptions = SERVER_OPTIONS,
    kernel: bool = typer.Option(False, "--kernel/--no-kernel", help="Also record kernel tracepoints in each probe."),
    force: bool = FORCE,
) -> None:
    """Bisect the body size for the first app-visible write error (or run the server x client matrix)."""
    from capture.sweep.matrix import DEFAULT_CLIENTS, DEFAULT_SERVERS, parse_server, run_matrix, run_sweep, total_probes
    from capture.sweep.matrix import matrix_rows, required_tools
    from capture.sweep.outputs import explanation, markdown, open_sweep_dir, publish_outputs
    from capture.sweep.pool import ProbePool
    from capture.sweep.probe import ProbeSpec
    from capture.privileges import MissingToolError, NeedsRootError, require_root, require_tools
    from capture.scenario import RunInterrupted
    from capture.users import invoking_user

    if host not in LOOPBACK_HOSTS:
        raise fail(f"--host must be 127.0.0.1 or ::1 (loopback only), not {host!r}", code=2)
    hi = max_size or (MATRIX_MAX if matrix else SINGLE_MAX)
    if hi < min_size:
        raise fail(f"--max {hi} is below --min {min_size}", code=2)
    base = ProbeSpec(server=server, client=client, host=host, abort_after_s=abort_after, handler_delay_s=handler_delay,
                     kernel=kernel, **vars(options))
    try:
        server_rows = [parse_server(s) for s in _names(servers)] if servers else list(DEFAULT_SERVERS)
    except ValueError as exc:
        raise fail(str(exc), code=2)
    client_cols = _names(clients) or list(DEFAULT_CLIENTS)
    unknown = _unknown([s.server for s in server_rows] if matrix else [server], client_cols if matrix else [client])
    if unknown:
        raise fail(unknown, code=2)
    try:
        require_root(sys.argv)
        require_tools(required_tools(server_rows, client_cols, base, matrix))
        sweep_dir = open_sweep_dir(out_dir, invoking_user(), force)
    except (NeedsRootError, MissingToolError, AbortscopeError) as exc:
        raise fail(str(exc))

    pool_workers = ProbePool(workers).workers
    jobs = len(matrix_rows(server_rows, client_cols, base, knobs)) if matrix else 1
    fanout = 1 if matrix else pool_workers
    what = f"{len(server_rows)} servers x {len(client_cols)} clients" if matrix else f"{base.label()} + {client}"
    err.print(f"sweep {what}, sizes {min_size}..{hi}, {pool_workers} parallel probes -> {out_dir}")
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("{task.fields[last]}"), console=err, transient=False)  # fmt: skip
    try:
        with progress:
            task = progress.add_task("probes", total=total_probes(jobs, min_size, hi, fanout), last="")

            def on_probe(job, facts) -> None:
                mark = f"failed ({facts.failed})" if facts.failed else ("error" if facts.app_error else "ok")
                progress.update(task, advance=1, last=f"{job.key} N={facts.size}: {mark}")

            if matrix:
                rows = run_matrix(server_rows, client_cols, lo=min_size, hi=hi, out_dir=out_dir, base=base,
                                  knobs=knobs, workers=workers, on_probe=on_probe)  # fmt: skip
            else:
                rows = [run_sweep(base, min_size, hi, out_dir, workers=workers, on_probe=on_probe)]
            progress.update(task, total=progress.tasks[0].completed)
    except (RunInterrupted, KeyboardInterrupt) as exc:
        _hand_over(sweep_dir)
        raise fail(f"interrupted: {exc}; the probes' bundles so far are in {out_dir}", code=EXIT_INTERRUPTED)
    except (NeedsRootError, MissingToolError) as exc:
        raise fail(str(exc))
    except AbortscopeError as exc:
        _hand_over(sweep_dir)
        raise fail(f"sweep failed: {exc} (bundles so far in {out_dir})")
    try:
        paths = publish_outputs(rows, sweep_dir)
    except OSError as exc:
        raise fail(f"cannot write the sweep's files into {out_dir}: {exc.strerror or exc}")
    finally:
        _hand_over(sweep_dir)
    if matrix:
        out.print(markdown(rows), soft_wrap=True, markup=False)
    out.print(explanation(rows), soft_wrap=True, markup=False)
    out.print("wrote " + ", ".join(str(p) for p in paths.values()), soft_wrap=True, markup=False)


def _hand_over(sweep_dir) -> None:
    """The directories the sweep created go to the invoking user (each probe's bundle already did)."""
    sweep_dir.hand_over_created()
    sweep_dir.hand_over_new_subdirs()
    sweep_dir.close()


def _unknown(servers: list[str], clients: list[str]) -> str | None:
    from capture.clients import CLIENTS
    from capture.clients.browser import MODES
    from capture.servers import SERVERS

    bad = [f"server {s!r}" for s in servers if s not in SERVERS]
    bad += [f"client {c!r}" for c in clients if c not in CLIENTS and c not in MODES]
    if not bad:
        return None
    return (f"unknown {', '.join(bad)}: servers are {', '.join(SERVERS)}; "
            f"clients are {', '.join([*CLIENTS, *(m for m in MODES if m not in CLIENTS)])}")

