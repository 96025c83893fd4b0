"""What made an annotated capture and from what: the section header's comments, each source with its sha256.

Whoever receives the file can check it against the capture they have. The capture's digest is computed
on a thread of its own from the start (hashlib and readinto let go of the GIL), while the analysis reads
the same file; the event files are small and hashed when they are known.
"""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

#: read and hashed this much at a time. The thread takes the GIL back after each read and each hash, and
#: waits for it while the analysis runs Python on the other threads: with 1 MB pieces the digest of the
#: 1.8 GB benchmark file was still under way when the copy ended (annotate to /dev/null 2.33 s); with 8 MB,
#: 2.11 s (medians of 4, alternating)
CHUNK = 8 << 20
#: Stands in for a digest still under way: as long as a sha256 in hex.
PENDING = "0" * 64


@dataclass(frozen=True)
class Source:
    role: str  # capture, strace, kernel, app, applog, jsonl (analysis.events' source names)
    name: str  # as the comment shows it: the file's name, under its bundle's when it is in one
    size: int
    sha256: str

    def text(self) -> str:
        return f"Source {self.role}: {self.name} ({self.size:,} bytes, sha256 {self.sha256})."


class Digest:
    """The sha256 of a file, computed on a thread started at once; :meth:`result` waits for it."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._stop = threading.Event()
        self._future: Future = Future()
        threading.Thread(target=self._run, name="sha256", daemon=True).start()

    def _run(self) -> None:
        _yield_to_the_others()
        try:
            self._future.set_result(sha256_of(self.path, self._stop))
        except BaseException as exc:  # handed to result()'s caller
            self._future.set_exception(exc)

    def result(self) -> str:
        return self._future.result()

    def done(self) -> bool:
        return self._future.done()

    def cancel(self) -> None:
        self._stop.set()


def _yield_to_the_others() -> None:
    """This thread at a lower priority (Linux: a thread is scheduled on its own): the digest is wanted at the
    end of the copy, the analysis now; on two cores it otherwise takes a core from the pass that the comments
    wait for (annotate of the 1M-packet benchmark file: 2.47 s -> 2.40 s, medians of 4)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):  # not Linux, or not allowed: the same digest, at the usual priority
        pass


def capture_of(path: Path) -> Path:
    """The capture file ``path`` names: itself, or a run bundle's."""
    from analysis.bundle import BundlePaths

    path = Path(path)
    return BundlePaths(path).capture if path.is_dir() else path


def digest_of_capture(path: Path) -> Digest | None:
    """The sha256 of the capture ``path`` names, started now (None when there is no such file)."""
    capture = capture_of(path)
    return Digest(capture) if capture.is_file() else None


def sha256_of(path: Path, stop: threading.Event | None = None) -> str:
    """The file's sha256, hashed where the reader's window (analysis.pcap.window) holds it: a big file mapped
    from the page cache a window at a time, not copied (1.8 GB: 0.2 s less of a core). A file that shrinks
    meanwhile (the window says so) is hashed again as it is then, read, so that the digest is of real bytes."""
    from contextlib import closing

    from analysis.pcap.window import open_window

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        window = open_window(f, CHUNK)
        with closing(window):
            while not (stop is not None and stop.is_set()):
                window.refill()
                window.prefetch()
                digest.update(window.mv[window.start:window.end])
                window.start = window.end
                if window.eof:
                    break
    return _sha256_read(path, stop) if window.warnings else digest.hexdigest()


def _sha256_read(path: Path, stop: threading.Event | None) -> str:
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with open(path, "rb") as f:
        while (n := f.readinto(buffer)) and not (stop is not None and stop.is_set()):
            digest.update(view[:n])
    return digest.hexdigest()


def source(role: str, path: Path, bundle: Path | None, digest: str | None = None) -> Source:
    """A source file as the section header names it (``digest``: its sha256, if already known)."""
    path = Path(path)
    inside = bundle is not None and path.resolve().parent == Path(bundle).resolve()
    name = f"{Path(bundle).resolve().name}/{path.name}" if inside else path.name
    return Source(role, name, path.stat().st_size, digest or sha256_of(path))


def section_comments(application: str, sources: list[Source], selection: str | None) -> tuple[str, ...]:
    """The section header's comments: what made the file, each source, and what an extract kept."""
    made = (f"Annotated by {application} (abortscope annotate): a comment on each connection's first frame gives "
            "its verdict; the causal steps are numbered ❶❷❸ as in abortscope's ladder, each on its frame (an "
            "event on the frame it follows, with its offset); the syscall, kernel and application events are on "
            "the frames they follow. The packets are the source capture's, byte for byte.")
    return (made, *(s.text() for s in sources), *([selection] if selection else []))
