"""What the user named: a capture (one file, several, a directory of rotated pieces, a glob) or a run bundle, and
the event logs that go with it; and the non-packet timeline rows those logs give, tied to the connections.

A run bundle directory (analysis.bundle) brings its capture and, unless
given explicitly, its ``app.jsonl``, ``strace.txt`` and ``kernel.txt``;
``meta.json`` supplies the trace clock offset and which side was traced.
Anything else names capture files (analysis.stream.files).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis import bundle, clock
from analysis.errors import BundleError, EventParseError
from analysis.events import app_jsonl, applog, jsonl, kernel
from analysis.events.strace import parse as strace_parse
from analysis.stream.files import CaptureSet, expand
from analysis.stream.files import capture_set as ordered

PathLike = str | Path


@dataclass(frozen=True)
class Inputs:
    captures: CaptureSet
    meta: dict = field(default_factory=dict)
    strace: Path | None = None
    kernel: Path | None = None
    app: Path | None = None
    applog: Path | None = None
    jsonl: Path | None = None

    @property
    def packets_only(self) -> bool:
        return all(p is None for p in (self.strace, self.kernel, self.app, self.applog, self.jsonl))


def resolve(path: PathLike | Sequence[PathLike], app: PathLike | None = None, strace: PathLike | None = None,
            kernel: PathLike | None = None, applog: PathLike | None = None, jsonl: PathLike | None = None,
            known: CaptureSet | None = None) -> Inputs:
    """The capture set and event logs that ``path`` (one path, or several naming pieces of one capture) means.
    ``known``: a capture set already made of these paths (it is not looked for again)."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)

    def capture_set(named: list) -> CaptureSet:
        if known is not None and sorted(p.resolve() for p in known.paths) == sorted(p.resolve() for p in expand(named)):
            return known
        return ordered(named)

    if len(paths) == 1 and Path(paths[0]).is_dir() and bundle.is_bundle(Path(paths[0])):
        root = Path(paths[0])
        files = bundle.BundlePaths(root)
        if not files.capture.exists():
            raise BundleError(f"{root}: the bundle has no {bundle.CAPTURE}")
        return Inputs(capture_set([files.capture]), bundle.read_meta(root), _pick(strace, files.strace),
                      _pick(kernel, files.kernel), _pick(app, files.app), _given(applog), _given(jsonl))
    if any(Path(p).is_dir() and bundle.is_bundle(Path(p)) for p in paths):
        raise BundleError("a run bundle is analyzed on its own, not with other captures")
    return Inputs(capture_set(paths), {}, _given(strace), _given(kernel), _given(app), _given(applog), _given(jsonl))


def _given(path: PathLike | None) -> Path | None:
    return None if path is None else Path(path)


def _pick(explicit: PathLike | None, default: Path | None) -> Path | None:
    if explicit is not None:
        return Path(explicit)
    if default is not None and default.is_file() and default.stat().st_size > 0:
        return default
    return None


def _text(path: Path, what: str) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError as exc:
        raise EventParseError(f"{path}: cannot read the {what} file ({exc.strerror or exc})") from exc


def event_rows(inputs: Inputs, flows: pd.DataFrame, tz: str | None = None,
               trace_to_realtime_ns: int | None = None) -> tuple[list[pd.DataFrame], list[str]]:
    """Every event log's rows (timeline schema), each tied to the connections of ``flows``; and the names of
    the sources read (packets first)."""
    frames: list[pd.DataFrame] = []
    sources = ["packets"]
    strace_rows = None
    if inputs.strace is not None:
        # the harness traces the server (analysis/bundle.py); a user's strace is assumed to be of the server too
        strace_rows = strace_parse(_text(inputs.strace, "strace"), flows=flows, actor="server", with_pid=True)
        frames.append(strace_rows.drop(columns=["pid"]))
        sources.append("strace")
    if inputs.kernel is not None:
        offset = trace_to_realtime_ns if trace_to_realtime_ns is not None else clock.trace_offset_from_meta(inputs.meta)
        frames.append(kernel.parse(_text(inputs.kernel, "kernel trace"), trace_to_realtime_ns=offset, flows=flows,
                                   syscalls=strace_rows))
        sources.append("kernel")
    if inputs.app is not None:
        frames.append(app_jsonl.parse(_text(inputs.app, "app events"), flows=flows))
        sources.append("app")
    if inputs.applog is not None:
        frames.append(applog.parse(_text(inputs.applog, "application log"), flows=flows, tz=tz))
        sources.append("applog")
    if inputs.jsonl is not None:
        frames.append(jsonl.parse(_text(inputs.jsonl, "JSON lines"), flows=flows))
        sources.append("jsonl")
    return frames, sources


def untied_warnings(frames: list[pd.DataFrame], sources: list[str]) -> list[str]:
    """A warning per event source none of whose events names a connection of the capture."""
    warnings = []
    for name, frame in zip(sources[1:], frames):
        untied = int((frame["flow"].astype(str) == "").sum())
        if len(frame) and untied == len(frame):
            warnings.append(f"none of the {len(frame)} {name} events names a connection of the capture "
                            "(different run, or a port filter?)")
    return warnings


__all__ = ["Inputs", "event_rows", "resolve", "untied_warnings"]
