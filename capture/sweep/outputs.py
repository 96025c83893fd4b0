"""The files a sweep leaves in its output directory, next to the probes' bundles.

    sweep.csv   one line per row (report.CSV_COLUMNS)
    sweep.md    the markdown matrix (and the knob table), for the README
    sweep.txt   the explanation: per row, the threshold and what the probes show; then the knobs
    sweep.png   the plot (plot.save_plot)

The sweep directory is checked and held open like a run's bundle directory
(capture.out_dir): new, empty, or an earlier sweep's (its files are
replaced); the files are drawn in a private staging directory and published
into it, owned by the invoking user.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Sequence
from pathlib import Path

from capture.out_dir import OutDir, make_staging
from capture.users import User
from capture.sweep.matrix import SweepRow
from capture.sweep.plot import save_plot
from capture.sweep.report import explain, knob_table, knobs, markdown_table, write_csv

FILES = {"csv": "sweep.csv", "markdown": "sweep.md", "text": "sweep.txt", "plot": "sweep.png"}


def explanation(rows: Sequence[SweepRow]) -> str:
    blocks = ["\n".join(explain(row)) for row in rows]
    how = knobs(rows)
    if how:
        blocks.append("How to change it:\n" + "\n".join(f"- {line}" for line in how))
    return "\n\n".join(blocks) + "\n"


def markdown(rows: Sequence[SweepRow]) -> str:
    parts = [markdown_table(rows)]
    if knob_table(rows):
        parts.append(knob_table(rows))
    return "\n\n".join(parts) + "\n"


def write_outputs(rows: Sequence[SweepRow], out_dir: Path) -> dict[str, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / file for name, file in FILES.items()}
    write_csv(rows, paths["csv"])
    paths["markdown"].write_text(markdown(rows))
    paths["text"].write_text(explanation(rows))
    save_plot(rows, paths["plot"])
    return paths


def holds_a_sweep(dir_fd: int, entries: list[str]) -> bool:
    """An earlier sweep's directory: one of its files, or only directories (the rows' probe bundles)."""
    def is_dir(name: str) -> bool:
        return stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)

    return bool(set(entries) & set(FILES.values())) or all(is_dir(name) for name in entries)


def open_sweep_dir(path: Path, owner: User, force: bool = False) -> OutDir:
    return OutDir.open(path, owner, claims=holds_a_sweep, names=FILES.values(), what="sweep", force=force)


def publish_outputs(rows: Sequence[SweepRow], out: OutDir) -> dict[str, Path]:
    """The sweep's files, drawn in a private stage and published into ``out``; name -> path in ``out``."""
    stage = make_staging("abortscope-sweep-")
    try:
        staged = write_outputs(rows, stage)
        for path in staged.values():
            out.publish(path, path.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return {name: out.path / file for name, file in FILES.items()}
