"""What the user named: a capture (one file, several, a directory of rotated pieces, a glob) or a run bundle, the
event logs that go with it, and which connections to keep; and the non-packet timeline rows those logs give.

Two small values say what to do (analysis.load(path, read, keep)):
:class:`Read`, what to read and how (the capture's reader, the event logs
by source name, how to place their times), and :class:`Keep`, which
connections to keep. A run bundle directory (analysis.bundle) brings its
capture, ``meta.json`` (the trace clock offset, which side was traced) and,
for every source of analysis.events.SOURCES with a bundle file (strace.txt,
kernel.txt, app.jsonl), that file unless another is named. Anything else
names capture files (analysis.stream.files).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis import bundle
from analysis.errors import AbortscopeError, BundleError
from analysis.events import PACKETS, SOURCES
from analysis.side_files import SideRows, read_followed_logs, read_side_files
from analysis.stream.files import CaptureSet, expand
from analysis.stream.files import capture_set as ordered

PathLike = str | Path


@dataclass(frozen=True)
class Read:
    """What to read, and how.

    - ``logs``: event logs by source name (analysis.events.SOURCES: strace, kernel, app, applog, jsonl, ...),
      one file or several each; a run bundle's own files are read for the sources not named here;
    - ``engine``: the capture reader (fast, scapy, pyshark);
    - ``tz``: the zone of wall-clock log times (default: UTC, as a bundle's server.log is written; a
      warning says so for other logs);
    - ``trace_to_realtime_ns``: the tracefs clock offset, over the bundle's;
    - ``skip``: sources a run bundle's own file is not read for (a view that needs fewer layers, and speed).
    """

    logs: Mapping[str, PathLike | Sequence[PathLike] | None] = field(default_factory=dict)
    engine: str = "fast"
    tz: str | None = None
    trace_to_realtime_ns: int | None = None
    skip: frozenset[str] = frozenset()

    def files(self, bundle_dir: Path | None) -> dict[str, list[Path]]:
        """Each source's files: the ones named, else the bundle's own file when it has a non-empty one."""
        named = {name: [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
                 for name, paths in self.logs.items() if paths is not None}
        for name, source in SOURCES.items():
            own = bundle_dir / source.bundle_file if bundle_dir is not None and source.bundle_file else None
            if name not in named and name not in self.skip and own is not None and own.is_file() and own.stat().st_size > 0:
                named[name] = [own]
        return named


@dataclass(frozen=True)
class Keep:
    """Which connections to keep: one (``flow``, its id as in ``Timeline.flows.flow``), or those with ``port``
    on either side; everything by default."""

    flow: str | None = None
    port: int | None = None

    def __post_init__(self):
        if self.flow is not None and self.port is not None:
            raise AbortscopeError("keep one flow or the connections of a port, not both")


@dataclass(frozen=True)
class Inputs:
    """What ``path`` and ``read`` name, resolved: the capture set, the bundle (if any) and the event logs."""

    captures: CaptureSet
    meta: dict = field(default_factory=dict)
    files: Mapping[str, list[Path]] = field(default_factory=dict)  # source name -> its files
    bundle_dir: Path | None = None
    warnings: tuple[str, ...] = ()  # about the bundle (a damaged meta.json)
    followed: tuple[bundle.FollowedLog, ...] = ()  # the logs `abortscope record` copied into the bundle

    @property
    def packets_only(self) -> bool:
        return not self.files and not self.followed


def resolve(path: PathLike | Sequence[PathLike], read: Read = Read(), known: CaptureSet | None = None) -> Inputs:
    """The capture set and event logs that ``path`` (one path, or several naming pieces of one capture) and
    ``read`` mean. ``known``: a capture set already made of these paths (it is not looked for again)."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)

    def capture_set(named: list) -> CaptureSet:
        if known is not None and sorted(p.resolve() for p in known.paths) == sorted(p.resolve() for p in expand(named)):
            return known
        return ordered(named)

    if len(paths) == 1 and Path(paths[0]).is_dir() and bundle.is_bundle(Path(paths[0])):
        root = Path(paths[0])
        capture = bundle.BundlePaths(root).capture
        if not capture.exists():
            raise BundleError(f"{root}: the bundle has no {bundle.CAPTURE}")
        meta, warnings = bundle.load_meta(root)
        followed = tuple(bundle.followed_logs(root, meta)) if read.logs.get("applog") is None else ()
        return Inputs(capture_set([capture]), meta, read.files(root), root, tuple(warnings), followed)
    if any(Path(p).is_dir() and bundle.is_bundle(Path(p)) for p in paths):
        raise BundleError("a run bundle is analyzed on its own, not with other captures")
    return Inputs(capture_set(paths), {}, read.files(None))


def event_rows(inputs: Inputs, flows: pd.DataFrame, read: Read) -> SideRows:
    """Every event log's rows (timeline schema), each tied to the connections of ``flows``, with the names of
    the sources read and what went wrong in words (analysis.side_files)."""
    side = read_side_files(inputs.files, flows, inputs.meta, tz=read.tz, trace_to_realtime_ns=read.trace_to_realtime_ns,
                           bundle_root=inputs.bundle_dir)
    read_followed_logs(side, inputs.followed, flows, inputs.meta, read.tz)
    side.warnings[:0] = inputs.warnings
    side.warnings.extend(untied_warnings(side.frames, side.sources))
    return side


def source_names(side: SideRows) -> tuple[str, ...]:
    """The sources read, the packets first, each once."""
    return tuple(dict.fromkeys([PACKETS, *side.sources]))


def untied_warnings(frames: list[pd.DataFrame], sources: list[str]) -> list[str]:
    """A warning per event log none of whose events names a connection of the capture."""
    return [f"none of the {len(frame)} {name} events names a connection of the capture (different run, or a port "
            "filter?)" for name, frame in zip(sources, frames) if len(frame) and (frame["flow"].astype(str) == "").all()]


__all__ = ["Inputs", "Keep", "Read", "event_rows", "resolve", "source_names", "untied_warnings"]
