"""`abortscope sweep`: find the smallest response size at which the handler sees a write error, and explain it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from abortscope.commands.run import EXIT_INTERRUPTED
from abortscope.commands.server_options import FORCE, HOST, SERVER_OPTIONS, check_host, with_server_options
from abortscope.console import err, fail, out
from analysis.errors import AbortscopeError
from capture.server_options import ServerOptions

SINGLE_MAX = 16384
MATRIX_MAX = 32768


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
    from capture.privileges import MissingToolError, NeedsRootError, require_root, require_tools
    from capture.scenario import RunInterrupted
    from capture.sweep.outputs import open_sweep_dir
    from capture.sweep.plan import PlanError, sweep_plan
    from capture.sweep.pool import ProbePool
    from capture.sweep.probe import ProbeSpec
    from capture.users import invoking_user

    check_host(host)
    base = ProbeSpec(server=server, client=client, host=host, abort_after_s=abort_after, handler_delay_s=handler_delay,
                     kernel=kernel, **vars(options))
    try:
        plan = sweep_plan(base, servers, clients, matrix, min_size, max_size or (MATRIX_MAX if matrix else SINGLE_MAX),
                          knobs)
    except PlanError as exc:
        raise fail(str(exc), code=2)
    try:
        require_root(sys.argv)
        require_tools(plan.tools())
        sweep_dir = open_sweep_dir(out_dir, invoking_user(), force)
    except (NeedsRootError, MissingToolError, AbortscopeError) as exc:
        raise fail(str(exc))

    pool_workers = ProbePool(workers).workers
    err.print(f"sweep {plan.what()}, sizes {plan.lo}..{plan.hi}, {pool_workers} parallel probes -> {out_dir}")
    try:
        rows = _run_with_progress(plan, out_dir, workers, plan.probes(pool_workers))
    except (RunInterrupted, KeyboardInterrupt) as exc:
        _hand_over(sweep_dir)
        raise fail(f"interrupted: {exc}; the probes' bundles so far are in {out_dir}", code=EXIT_INTERRUPTED)
    except (NeedsRootError, MissingToolError) as exc:
        raise fail(str(exc))
    except AbortscopeError as exc:
        _hand_over(sweep_dir)
        raise fail(f"sweep failed: {exc} (bundles so far in {out_dir})")
    _publish(rows, sweep_dir, out_dir, matrix)


def _publish(rows: list, sweep_dir, out_dir: Path, matrix: bool) -> None:
    """The sweep's files written (and handed to the invoking user), its tables and explanation printed."""
    from capture.sweep.outputs import explanation, markdown, publish_outputs

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


def _run_with_progress(plan, out_dir: Path, workers: int | None, probes: int) -> list:
    """Run the plan with a progress bar of its probes (each says its pair, size and outcome)."""
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("{task.fields[last]}"), console=err, transient=False)  # fmt: skip
    with progress:
        task = progress.add_task("probes", total=probes, last="")

        def on_probe(job, facts) -> None:
            mark = f"failed ({facts.failed})" if facts.failed else ("error" if facts.app_error else "ok")
            progress.update(task, advance=1, last=f"{job.key} N={facts.size}: {mark}")

        rows = plan.run(out_dir, workers, on_probe)
        progress.update(task, total=progress.tasks[0].completed)
    return rows


def _hand_over(sweep_dir) -> None:
    """The directories the sweep created go to the invoking user (each probe's bundle already did)."""
    sweep_dir.hand_over_created()
    sweep_dir.hand_over_new_subdirs()
    sweep_dir.close()

