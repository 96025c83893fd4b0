"""`abortscope batch`: many captures on Dask, one task each, into one Parquet dataset (analysis.batch)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from abortscope.console import err, fail, out, warn
from analysis.errors import AbortscopeError


def batch(
    inputs: list[Path] = typer.Argument(..., metavar="INPUT...",
                                        help="Captures: files, or directories of a capture's rotated pieces."),
    dataset: Path = typer.Option(..., "--out", "-o", help="The dataset folder (made if missing; a run again "
                                                          "adds to it and skips what it has)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1,
                                          help="Worker processes of the local cluster (default: one per core)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", metavar="tcp://HOST:PORT",
                                            help="Run on this existing Dask cluster instead (every worker must "
                                                 "reach the inputs and the dataset at the same paths)."),
    force: bool = typer.Option(False, "--force", help="Analyze again the captures the dataset already has."),
    timeline: bool = typer.Option(True, "--timeline/--no-timeline", help="Write the packets' timeline too."),
) -> None:
    """Analyze many captures at once: the connection table and timeline of each, partitioned by capture, in a
    Parquet dataset that pandas, Dask and DuckDB read as one (analysis.read_dataset)."""
    if workers is not None and scheduler is not None:
        raise fail("give --workers or --scheduler, not both")
    from analysis import batch as batches  # dask imports here, not for `abortscope --help`

    failed, skipped = [], []
    with Progress("analyzing", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                  transient=True) as bar:
        task = bar.add_task("captures", total=len(inputs))

        def done(entry: dict) -> None:
            bar.advance(task)
            if entry["status"] == "error":
                failed.append(entry)
                warn(f"{entry['input']}: {entry['error']}")
            elif entry["status"] == "skipped":
                skipped.append(entry)

        try:
            manifest = batches.run([str(p) for p in inputs], dataset, workers, scheduler, force, timeline, done)
        except AbortscopeError as exc:
            raise fail(str(exc))
        except OSError as exc:  # the scheduler's address: unreachable
            raise fail(f"cannot run the batch: {exc}")
    _summary(manifest, [Path(p) for p in inputs], dataset, failed, skipped)
    if failed:
        raise typer.Exit(1)


def _summary(manifest: dict, inputs: list[Path], dataset: Path, failed: list[dict], skipped: list[dict]) -> None:
    entries = [e for e in manifest["captures"].values() if e.get("input") in {str(p.resolve()) for p in inputs}]
    ok = [e for e in entries if e["status"] == "ok"]
    out.print(f"{len(ok)} capture(s) in {dataset}: {sum(e.get('connections', 0) for e in ok)} connections, "
              f"{sum(e.get('packets', 0) for e in ok)} packets"
              + (f"; {len(skipped)} already there, skipped (--force to analyze them again)" if skipped else "")
              + (f"; {len(failed)} failed (see {Path(dataset) / '_manifest.json'})" if failed else ""))
