"""Probes in parallel worker processes, and the scheduler that drives threshold searches with them.

    with ProbePool(workers=2) as pool:
        results = drive([Job(key, spec, search(lo, hi), out_dir)], pool, on_probe=print)

Why processes: ``run_scenario`` installs SIGINT/SIGTERM handlers, which only
a main thread may do; each worker (multiprocessing "spawn", so no state is
inherited) runs one probe at a time in its main thread. Workers are bounded
by the core count. Each probe gets its own bundle directory; the harness
picks a free port per run. A Ctrl-C reaches the workers too (same process
group): each run unwinds its own processes and keeps its bundle.

A failed probe (its run failed, or it shows no request, no packets or a
crashed server: ``ProbeFacts.failed``) is run again, up to MAX_ATTEMPTS in
all; it never reaches the search as "no error". If every attempt fails the
search ends as FAILED with the reason.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from capture.sweep.bisect import Outcome, Search, Threshold
from capture.sweep.facts import ProbeFacts
from capture.sweep.probe import ProbeSpec

MAX_ATTEMPTS = 3


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _probe_in_worker(spec_json: str, size: int, out_dir: str) -> dict:
    from capture.sweep.probe import ProbeSpec, run_probe

    return run_probe(ProbeSpec.from_json(spec_json), size, Path(out_dir)).as_dict()


def _worker_init() -> None:
    # An idle worker ignores Ctrl-C (the terminal sends it to the whole group): a busy one is
    # interrupted by run_scenario's own handler and unwinds its run; the parent then shuts the
    # pool down in order instead of every idle worker dying with a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import capture.scenario  # noqa: F401  (the heavy imports once per worker, not per probe)
    import capture.sweep.facts  # noqa: F401


def _terminate_as_interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


class ProbePool:
    """A bounded pool of probe worker processes (``workers=0``: probes run in this process)."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = default_workers() if workers is None else workers
        self._executor: ProcessPoolExecutor | None = None
        self._previous_sigterm = None

    def __enter__(self) -> "ProbePool":
        if self.workers > 0:
            context = multiprocessing.get_context("spawn")
            self._executor = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_worker_init)
            if threading.current_thread() is threading.main_thread():  # SIGTERM unwinds like Ctrl-C
                self._previous_sigterm = signal.signal(signal.SIGTERM, _terminate_as_interrupt)
        return self

    def __exit__(self, *exc) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)  # busy workers finish (or unwind) their run
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)

    def submit(self, spec: ProbeSpec, size: int, out_dir: Path) -> Future:
        if self._executor is None:  # in-process (tests, one-off debugging)
            future: Future = Future()
            try:
                future.set_result(_probe_in_worker(spec.to_json(), size, str(out_dir)))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller like a worker's
                future.set_exception(exc)
            return future
        return self._executor.submit(_probe_in_worker, spec.to_json(), size, str(out_dir))


@dataclass
class Job:
    """One threshold search: its key (row/cell name), what it runs, where its bundles go."""

    key: str
    spec: ProbeSpec
    steps: Search
    out_dir: Path
    result: Threshold | None = None
    runs: int = 0
    _asked: list[int] = field(default_factory=list)
    _got: dict[int, ProbeFacts] = field(default_factory=dict)
    _attempts: dict[int, int] = field(default_factory=dict)

    def bundle_dir(self, size: int) -> Path:
        self.runs += 1
        return self.out_dir / f"{self.runs:03d}-n{size}"


ProbeCallback = Callable[[Job, ProbeFacts], None]


def drive(jobs: list[Job], pool: ProbePool, on_probe: ProbeCallback | None = None) -> dict[str, Threshold]:
    """Run every job's search to its end, probes in parallel across jobs; returns key -> Threshold."""
    running: dict[Future, tuple[Job, int]] = {}

    def launch(job: Job, size: int) -> None:
        job._attempts[size] = job._attempts.get(size, 0) + 1
        running[pool.submit(job.spec, size, job.bundle_dir(size))] = (job, size)

    def advance(job: Job, results: dict[int, ProbeFacts] | None) -> None:
        try:
            sizes = next(job.steps) if results is None else job.steps.send(results)
        except StopIteration as done:
            job.result = done.value
            return
        job._asked, job._got, job._attempts = list(sizes), {}, {}
        for size in sizes:
            launch(job, size)

    for job in jobs:
        job.out_dir.mkdir(parents=True, exist_ok=True)
        advance(job, None)
    try:
        while running:
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                job, size = running.pop(future)
                facts = ProbeFacts.from_dict(future.result())  # RunInterrupted etc. propagate
                if on_probe is not None:
                    on_probe(job, facts)
                if facts.failed and job._attempts[size] < MAX_ATTEMPTS:
                    launch(job, size)
                    continue
                if facts.failed:
                    job.steps.close()
                    job.result = Threshold(Outcome.FAILED, 0, 0, probes=(facts,), at=facts)
                    continue
                job._got[size] = facts
                if job.result is None and len(job._got) == len(job._asked):
                    advance(job, job._got)
    finally:
        for future in running:
            future.cancel()
    return {job.key: job.result for job in jobs}
