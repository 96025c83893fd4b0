"""What `abortscope sweep` was asked, checked and resolved: one frozen plan the CLI runs and shows.

    plan = sweep_plan(base, servers="go,python", clients=None, matrix=True, lo=1, hi=32768, knobs=True)

A wrong request raises :class:`PlanError` with the sentence to print (an
unknown server or client, a bad server label, ``--max`` below ``--min``);
nothing has started then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from analysis.errors import AbortscopeError
from capture.sweep.matrix import (DEFAULT_CLIENTS, DEFAULT_SERVERS, ProbeCallback, ServerVariant, SweepRow,
                                  matrix_rows, parse_server, required_tools, run_matrix, run_sweep, total_probes)
from capture.sweep.probe import ProbeSpec

class PlanError(AbortscopeError):
    """The sweep asked for cannot be run (the message says why)."""


@dataclass(frozen=True)
class SweepPlan:
    base: ProbeSpec  #: the single sweep's pair, and the matrix's common settings
    servers: tuple[ServerVariant, ...]
    clients: tuple[str, ...]
    matrix: bool
    lo: int
    hi: int
    knobs: bool

    def jobs(self) -> int:
        """Searches the sweep runs (matrix cells and knob rows, or one)."""
        return len(matrix_rows(self.servers, self.clients, self.base, self.knobs)) if self.matrix else 1

    def probes(self, workers: int) -> int:
        """Probes it usually takes (for a progress bar)."""
        return total_probes(self.jobs(), self.lo, self.hi, 1 if self.matrix else workers)

    def what(self) -> str:
        return (f"{len(self.servers)} servers x {len(self.clients)} clients" if self.matrix
                else f"{self.base.label()} + {self.base.client}")

    def tools(self) -> list[str]:
        return required_tools(self.servers, self.clients, self.base, self.matrix)

    def run(self, out_dir: Path, workers: int | None, on_probe: ProbeCallback | None) -> list[SweepRow]:
        if self.matrix:
            return run_matrix(self.servers, self.clients, lo=self.lo, hi=self.hi, out_dir=out_dir, base=self.base,
                              knobs=self.knobs, workers=workers, on_probe=on_probe)
        return [run_sweep(self.base, self.lo, self.hi, out_dir, workers=workers, on_probe=on_probe)]


def names(text: str | None) -> list[str] | None:
    """A comma-separated list (--servers, --clients); None when not given."""
    return None if text is None else [part.strip() for part in text.split(",") if part.strip()]


def sweep_plan(base: ProbeSpec, servers: str | None, clients: str | None, matrix: bool, lo: int, hi: int,
               knobs: bool) -> SweepPlan:
    """The plan of a sweep request; PlanError when it cannot run."""
    if hi < lo:
        raise PlanError(f"--max {hi} is below --min {lo}")
    try:
        server_rows = [parse_server(s) for s in names(servers)] if servers else list(DEFAULT_SERVERS)
    except ValueError as exc:
        raise PlanError(str(exc)) from exc
    client_cols = names(clients) or list(DEFAULT_CLIENTS)
    problem = unknown([s.server for s in server_rows] if matrix else [base.server],
                      client_cols if matrix else [base.client])
    if problem:
        raise PlanError(problem)
    return SweepPlan(base, tuple(server_rows), tuple(client_cols), matrix, lo, hi, knobs)


def unknown(servers: Sequence[str], clients: Sequence[str]) -> str | None:
    """The servers and clients that do not exist, in a sentence naming the ones that do (None: all exist)."""
    from capture.clients import CLIENTS
    from capture.clients.browser import MODES
    from capture.servers import SERVERS

    bad = [f"server {s!r}" for s in servers if s not in SERVERS]
    bad += [f"client {c!r}" for c in clients if c not in CLIENTS and c not in MODES]
    if not bad:
        return None
    return (f"unknown {', '.join(bad)}: servers are {', '.join(SERVERS)}; "
            f"clients are {', '.join([*CLIENTS, *(m for m in MODES if m not in CLIENTS)])}")
