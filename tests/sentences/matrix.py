"""Fresh runs of the harness, each analyzed and every sentence checked: the reduced matrix (CI) and the full one.

    python -m tests.sentences.matrix --out runs/matrix            # the reduced matrix (what CI runs), as root
    python -m tests.sentences.matrix --full --out runs/matrix     # 6 servers x 5 clients x 10 sizes + IPv6: 318 runs

Prints one line per run (verdicts, sentences, clauses, false ones) and the totals; exits 1 when a sentence is false
or a run failed. This module drives the harness and the analyzer; the oracle it checks with (raw.py, conn.py,
checks_*.py, registry.py) imports neither.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.sentences.registry import Tally, check_bundle

#: short runs: the client gives up at 0.1 s, the handler writes at 0.3 s
QUICK = {"abort_after_s": 0.1, "handler_delay_s": 0.3}
SERVERS = {"go": {}, "go-content-length": {"content_length": True}, "go-ctx-aware": {"ctx_aware": True},
           "python": {"server": "python"}, "python-raw": {"server": "python-raw", "write_size": 4096},
           "node": {"server": "node"}}
CLIENTS = ("curl", "socket-fin", "socket-rst", "half-close", "browser")
FULL_SIZES = (1, 100, 1000, 3966, 4000, 8060, 8061, 8192, 20000, 32768)


@dataclass(frozen=True)
class Cell:
    name: str
    overrides: dict = field(default_factory=dict)


def _cell(server: str, client: str, size: int = 8061, **more) -> Cell:
    name = "-".join([server, client, str(size), *(f"{k}={v}" for k, v in more.items())])
    return Cell(name, {**QUICK, **SERVERS[server], "client": client, "size": size, **more})


#: CI's matrix: --ctx-aware with every client, socket-rst at 100 B, half-close, IPv6, both proxies, a refused
#: connection, and two downloads the client resets (delivered whole; stopped reading first)
REDUCED: tuple[Cell, ...] = (
    *(_cell("go-ctx-aware", client) for client in CLIENTS),
    *(_cell("go", client) for client in ("curl", "socket-rst", "half-close")),
    _cell("go", "socket-rst", 100), _cell("go-content-length", "socket-rst", 100), _cell("go", "curl", 8060),
    _cell("python", "socket-fin", 100), _cell("python-raw", "socket-rst", 8061), _cell("node", "half-close"),
    _cell("go", "curl", host="::1"), _cell("go-ctx-aware", "half-close", host="::1"),
    _cell("go", "curl", proxy="nginx"), _cell("go", "socket-fin", proxy="go"),
    _cell("go", "refused"),
    _cell("go", "socket-fin", 8061, handler_delay_s=0.0, abort_after_s=0.2),
    _cell("go", "socket-fin", 4_000_000, handler_delay_s=0.0, abort_after_s=0.3, content_length=True),
    _cell("go", "socket-rst", 4_000_000, handler_delay_s=0.0, abort_after_s=0.05, content_length=True),
)


def full() -> tuple[Cell, ...]:
    """Six servers x five clients x ten sizes, and IPv6 for each server with curl, socket-rst and half-close."""
    grid = [_cell(s, c, n) for s, c, n in itertools.product(SERVERS, CLIENTS, FULL_SIZES)]
    return (*grid, *(_cell(s, c, host="::1") for s, c in itertools.product(SERVERS, ("curl", "socket-rst", "half-close"))))


def run_cell(cell: Cell, out_root: Path, attempts: int = 2) -> tuple[Tally, list[str], str]:
    """Run the cell (a failed run is tried again once), analyze its bundle, check every sentence:
    (tally, verdicts, error of the last attempt or "")."""
    from analysis import load
    from capture.scenario import ScenarioParams, run_scenario

    error = ""
    for _ in range(attempts):
        out = out_root / cell.name
        shutil.rmtree(out, ignore_errors=True)
        try:
            run_scenario(ScenarioParams(out_dir=out, **cell.overrides))
        except Exception as exc:  # noqa: BLE001 - reported with the cell, never hidden
            error = f"{type(exc).__name__}: {exc}"
            continue
        diagnoses = load(out).diagnose()
        return check_bundle(out, diagnoses), [d.verdict.value for d in diagnoses], ""
    return Tally(), [], error


def run_matrix(cells, out_root: Path, log=print) -> tuple[Tally, list[str]]:
    """Every cell; the totals and the cells whose run failed."""
    total, failed = Tally(), []
    for cell in cells:
        started = time.monotonic()
        tally, verdicts, error = run_cell(cell, out_root)
        total.add(tally)
        if error:
            failed.append(f"{cell.name}: {error}")
        log(f"{cell.name}: {','.join(verdicts) or error} | {tally.sentences} sentences, {tally.clauses} clauses, "
            f"{len(tally.false)} false ({time.monotonic() - started:.1f} s)")
        for problem in tally.false:
            log(f"  FALSE {problem}")
    return total, failed


def recheck(cells, out_root: Path, log=print) -> tuple[Tally, list[str]]:
    """The sentences of bundles a run of the matrix left in ``out_root``, checked again (after a change of words)."""
    from analysis import load

    total, missing = Tally(), []
    for cell in cells:
        bundle = out_root / cell.name
        if not (bundle / "meta.json").is_file():
            missing.append(f"{cell.name}: no bundle in {out_root}")
            continue
        tally = check_bundle(bundle, load(bundle).diagnose())
        total.add(tally)
        for problem in tally.false:
            log(f"{cell.name}: FALSE {problem}")
    return total, missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.sentences.matrix", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="where the bundles go")
    parser.add_argument("--full", action="store_true", help="the full matrix (318 runs) instead of the reduced one")
    parser.add_argument("--only", nargs="*", help="run the cells whose name contains one of these")
    parser.add_argument("--recheck", action="store_true", help="check the bundles already in --out again (no run)")
    args = parser.parse_args(argv)
    cells = full() if args.full else REDUCED
    if args.only:
        cells = tuple(c for c in cells if any(part in c.name for part in args.only))
    total, failed = (recheck if args.recheck else run_matrix)(cells, args.out)
    print(f"\n{len(cells)} runs ({len(failed)} failed), {total.connections} connections, {total.sentences} sentences, "
          f"{total.clauses} clauses, {len(total.false)} false")
    for line in failed:
        print(f"RUN FAILED {line}")
    return 1 if total.false or failed else 0


if __name__ == "__main__":
    sys.exit(main())
