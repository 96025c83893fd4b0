"""A batch run: one Dask task per capture (analysis.batch.task) on a local or an existing cluster, the manifest
kept as the tasks finish."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from analysis.batch.dataset import read_manifest, write_manifest
from analysis.batch.task import analyze
from analysis.errors import AbortscopeError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def capture_ids(inputs: list[str | Path]) -> list[str]:
    """A partition name per input: its file or folder name, made safe for a path (``capture=ID``); names that
    would collide get a suffix from their full path (the same on every run)."""
    names = [_UNSAFE.sub("_", Path(p).resolve().name).strip("._") or "capture" for p in inputs]
    ids = []
    for path, name in zip(inputs, names):
        if names.count(name) > 1:
            name = f"{name}-{hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:8]}"
        ids.append(name)
    return ids


@contextmanager
def client_of(workers: int | None = None, scheduler: str | None = None):
    """A Dask client: of an existing scheduler (its address), else of a local cluster of ``workers`` processes
    (one thread each) listening on loopback only, without its dashboard."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    with LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None, silence_logs=logging.CRITICAL) as cluster, \
            Client(cluster) as client:
        yield client


def run(inputs: list[str | Path], dataset: str | Path, workers: int | None = None, scheduler: str | None = None,
        force: bool = False, timeline: bool = True, on_done: Callable[[dict], None] | None = None) -> dict:
    """Analyze every input into ``dataset``; the manifest (also written to ``dataset/_manifest.json`` as each
    capture finishes). ``on_done(entry)`` is told of each capture as it finishes (a progress bar)."""
    from distributed import as_completed

    if not inputs:
        raise AbortscopeError("no capture to analyze")
    missing = [str(p) for p in inputs if not Path(p).exists()]
    if missing:
        raise AbortscopeError(f"no such file or directory: {', '.join(missing)}")
    dataset = Path(dataset).resolve()
    dataset.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(dataset)
    known = manifest["captures"]
    with client_of(workers, scheduler) as client:
        futures = {}
        for path, capture_id in zip(inputs, capture_ids(inputs)):
            done = known.get(capture_id, {})
            done_sha = None if force or done.get("status") != "ok" else done.get("sha256")
            future = client.submit(analyze, str(path), capture_id, str(dataset), done_sha, timeline, pure=False)
            futures[future] = capture_id
        for future in as_completed(futures):
            entry = future.result()
            if entry["status"] == "skipped":  # the manifest's entry stands
                entry = {**known[entry["capture"]], "status": "skipped"}
            else:
                known[entry["capture"]] = entry
                write_manifest(dataset, manifest)
            if on_done is not None:
                on_done(entry)
    return manifest
