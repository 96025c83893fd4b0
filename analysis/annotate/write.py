"""`annotate(path, output, ...)`: plan the comments from the analysis, then copy the capture with them.

The comments come from the connection table and the non-packet events only (no timeline of every
packet is built), and the analysis is let go of before the copy; the packets are copied by
analysis.pcapng a window at a time, so memory stays what the analysis needs.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.annotate.comments import FrameComments, frame_comments, joined
from analysis.annotate.provenance import PENDING, Digest, capture_of, digest_of_capture, section_comments, source
from analysis.errors import AbortscopeError
from analysis.inputs import Keep, Read, resolve
from analysis.memory import release_freed_memory
from analysis.pcap.table import ReadReport
from analysis.pcapng.copy import Annotations, Progress, copy_annotated

#: The copy's window (analysis.pcap.records): two are held at a time while one is written, mapped from the file.
COPY_WINDOW_BYTES = 16 << 20


@dataclass(frozen=True)
class Annotated:
    """What :func:`annotate` wrote."""

    output: Path
    connections: int  # the connections annotated (an extract's: the ones kept)
    frames_analyzed: int  # the records the analysis read
    frames_written: int
    comments: int
    sources: tuple[str, ...]
    warnings: tuple[str, ...]


def annotate(path: str | Path, output: str | Path, verdicts: list[str] | None = None, read: Read = Read(),
             keep: Keep = Keep(), events: bool = True, progress: Progress | None = None,
             write_progress: Progress | None = None, digest: Digest | None = None, ahead=None) -> Annotated:
    """Write ``path``'s packets to ``output`` (pcapng) with the explanation in packet comments.

    ``verdicts``, ``keep`` (a flow, a port): an extract, the matching connections' packets only.
    ``events=False`` keeps the verdicts and the causal steps only. ``read`` and ``ahead`` go to
    analysis.load. ``progress`` follows the reading, ``write_progress`` the writing.
    ``digest``: the capture's sha256, when the caller has started it already (else it starts here, beside the
    analysis).
    """
    path, output = Path(path), Path(output)
    capture = capture_of(path)
    if digest is None:
        digest = digest_of_capture(path)
    try:
        annotations, facts, section = _plan(path, capture, verdicts, read, keep, events, digest, progress, ahead)
        with _created(output, capture) as fd:
            # the capture's digest may still be under way: the section header is then written again at the end
            later = digest is not None and not digest.done() and _seekable(fd)
            if not later:
                annotations = replace(annotations, section=section())
            try:
                copied = copy_annotated(capture, fd, annotations, write_progress, COPY_WINDOW_BYTES,
                                        section=section if later else None)
            except OSError as exc:  # a full disk, a file truncated while it was read
                raise AbortscopeError(f"{output}: writing it failed ({exc.strerror or exc})") from exc
    finally:
        if digest is not None:
            digest.cancel()
    warnings = [*facts["warnings"], *copied.warnings]
    if copied.frames_read != facts["frames"]:
        warnings.append(f"the copy read {copied.frames_read} frames where the analysis read {facts['frames']}")
    if copied.frames_left_uncommented:
        warnings.append(f"{copied.frames_left_uncommented} frames are simple packet blocks, which cannot hold "
                        "comments: theirs are left out")
    return Annotated(output, facts["connections"], facts["frames"], copied.frames_written, copied.comments_written,
                     facts["sources"], tuple(dict.fromkeys(warnings)))


def _plan(path: Path, capture: Path, verdicts, read: Read, keep: Keep, events: bool, digest: Digest | None, progress,
          ahead) -> tuple[Annotations, dict, Callable[[], tuple[str, ...]]]:
    """The comments and the frames to keep, from the analysis (:func:`_analysis`). The annotations' section
    comments stand in for the capture's digest; the function returned gives the final ones (waiting for it)."""
    extract = verdicts is not None or keep != Keep()
    found = _analysis(path, verdicts, read, keep, events, extract, progress, ahead)
    records, comments = found.report.records, found.comments
    files = [("capture", capture), *_event_files(path, found.sources, read)]
    warnings = [*found.report.warnings, *found.warnings,
                *(f"skipped {n} records with unsupported link type {name} (copied, not analyzed)"
                  for name, n in found.report.skipped_linktypes.items())]
    kept = None
    if found.frames is not None:
        kept = np.zeros(records + 1, dtype=bool)
        kept[found.frames] = True
    facts = {"connections": found.connections, "frames": records, "sources": found.sources, "warnings": warnings}
    del found
    release_freed_memory()  # what making the comments took, back to the system before the copy
    selection = _selection(verdicts, keep.flow, keep.port, facts["connections"], int(kept.sum()), records) \
        if extract else None
    bundle = path if path.is_dir() else None
    named = [source(role, file, bundle, PENDING if role == "capture" and digest else None) for role, file in files]

    def section() -> tuple[str, ...]:
        final = [replace(s, sha256=digest.result()) if s.sha256 == PENDING else s for s in named]
        return section_comments(_application(), final, selection)

    annotations = Annotations(comments.frames, comments.bounds, comments.texts, kept,
                              section_comments(_application(), named, selection), _application())
    return annotations, facts, section


@dataclass(frozen=True)
class _Analysis:
    """The comments, and what the analysis read."""

    comments: FrameComments
    connections: int  # the connections commented (an extract's only)
    frames: np.ndarray | None  # an extract's: the frames of its connections (the ones copied); None: every one
    report: ReadReport
    sources: tuple[str, ...]
    warnings: tuple[str, ...]


#: what the comments of a capture without event logs need of its packets: none of them
_NO_PACKETS = {name: np.zeros(0, np.int64) for name in ("conn", "frame", "ts_ns")}


def _analysis(path: Path, verdicts, read: Read, keep: Keep, events: bool, extract: bool, progress,
              ahead) -> _Analysis:
    """The comments from the analysis. A whole capture with no event log needs its connection table only: the
    comments are made a chunk of connections at a time as the pass goes (memory for the connections, never a
    table of every packet). An extract needs its packets' frames and event logs need the packets' times: the
    whole timeline is loaded (analysis.api.load), and let go of before the comments are made (they need three
    of its columns, and only for the events)."""
    from analysis.api import each_connection_chunk, load_inputs

    inputs = resolve(path, read, known=None if ahead is None else ahead.captures)
    if inputs.packets_only and not extract:
        parts: list[FrameComments] = []
        no_packets = pd.DataFrame(_NO_PACKETS)
        summary = each_connection_chunk(inputs, lambda table: parts.append(frame_comments(table, no_packets, None)),
                                        parts.clear, read, progress=progress, ahead=ahead)
        if not summary.connections:
            raise AbortscopeError(f"nothing to annotate in {path}: no TCP packet and no event")
        return _Analysis(joined(parts), summary.connections, None, summary.report, ("packets",), summary.warnings)
    timeline = load_inputs(inputs, read, keep, progress, ahead)
    if not len(timeline.flows) and not len(timeline.other_events):
        raise AbortscopeError(f"nothing to annotate in {path}: no TCP packet and no event")
    table = timeline.connections
    if verdicts is not None:
        table = table[table["verdict"].isin(verdicts)]
    packets = timeline.packets[["conn", "frame", "ts_ns"]]
    if extract:
        packets = packets[packets["conn"].isin(table["conn"])]
    others = timeline.other_events if events else None
    if others is not None and extract:
        others = others[others["conn"].isin(table["conn"]).fillna(False).to_numpy(bool)]
    report, sources, warnings = timeline.report, timeline.sources, timeline.warnings
    del timeline
    release_freed_memory()  # the analysis' columns, back to the system before the comments and the copy
    frames = packets["frame"].to_numpy(np.int64) if extract else None
    return _Analysis(frame_comments(table, packets, others, extract), len(table), frames, report, sources, warnings)


def _event_files(path: Path, sources: tuple[str, ...], read: Read) -> list[tuple[str, Path]]:
    """The files of the event sources the analysis loaded: named in ``read``, or the bundle's."""
    files = read.files(path if path.is_dir() else None)
    return [(name, file) for name in sources[1:] for file in files.get(name, ()) if file.is_file()]


def _selection(verdicts, flow, port, connections: int, frames: int, frames_total: int) -> str:
    criteria = [f"verdict {', '.join(verdicts)}" if verdicts else None, f"flow {flow}" if flow else None,
                f"port {port}" if port is not None else None]
    return (f"An extract: the {connections:,} connections with {' and '.join(c for c in criteria if c)}, "
            f"{frames:,} of the capture's {frames_total:,} frames. The frame numbers in the comments are the "
            "original capture's.")


def _seekable(fd: int) -> bool:
    try:
        os.lseek(fd, 0, os.SEEK_CUR)
    except OSError:
        return False
    return True


def _application() -> str:
    try:
        return f"abortscope {metadata.version('abortscope')}"
    except metadata.PackageNotFoundError:
        return "abortscope"


@contextmanager
def _created(output: Path, capture: Path):
    """``output`` opened for writing (never through a symbolic link, never the capture itself); removed
    again if the writing fails or is interrupted, when it is a regular file."""
    if output.exists() and capture.exists() and os.path.samefile(output, capture):
        raise AbortscopeError(f"{output}: that is the capture itself; write the annotated copy elsewhere")
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise AbortscopeError(f"{output}: cannot write it ({exc.strerror or exc})") from exc
    regular = stat.S_ISREG(os.fstat(fd).st_mode)
    try:
        yield fd
    except BaseException:
        if regular:
            Path(output).unlink(missing_ok=True)  # a copy cut short must not pass for a whole one
        raise
    finally:
        os.close(fd)


__all__ = ["Annotated", "annotate"]
