"""What the commands that read a capture share: the engine option, --verdict names, the read-ahead, progress."""

from __future__ import annotations

import gc
from contextlib import contextmanager, nullcontext
from enum import Enum
from pathlib import Path

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from abortscope.console import err, fail, warn

BIG_FILE_BYTES = 50 * 1024 * 1024  # show a progress bar above this


class Engine(str, Enum):
    fast = "fast"
    scapy = "scapy"
    pyshark = "pyshark"


def verdict_names() -> list[str]:
    from analysis.diagnosis.verdicts import Verdict  # imported when asked for: `abortscope --help` stays quick

    return [v.value for v in Verdict]


def complete_verdicts(incomplete: str) -> list[str]:
    """Tab completion of --verdict: the verdict names, after any already typed (NAME,NAME,...)."""
    done, _, last = incomplete.rpartition(",")
    prefix = done + "," if done else ""
    return [prefix + name for name in verdict_names() if name.startswith(last.upper())]


def parse_verdicts(text: str | None) -> list[str] | None:
    """--verdict's names, checked (case does not matter)."""
    if text is None:
        return None
    names = [name.strip().upper() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in verdict_names()]
    if unknown or not names:
        raise fail(f"unknown verdict {', '.join(unknown) or repr(text)}: choose from {', '.join(verdict_names())}")
    return names


def warn_if_slow_reader() -> None:
    from analysis.pcap.walk import ACCELERATED

    if not ACCELERATED:
        warn("the reader's C part (analysis/pcap/csrc/) is not built, so big files read about 3 times slower: "
             "install gcc and python3-dev (sudo apt-get install -y gcc python3-dev), then reinstall: .venv/bin/pip install -e .")


@contextmanager
def collector_paused():
    """No cyclic garbage collection while importing: imports make some 200,000 long-lived objects and no
    garbage, and the collections they trigger cost 0.03 s of a one-second run."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def captures_of(paths: list[Path]):
    """The capture set the paths name (a bundle's capture), for the read-ahead and the progress bars; None when
    the analysis must say why there is none (it reports what is wrong with the path)."""
    from analysis.bundle import BundlePaths, is_bundle
    from analysis.stream.files import capture_set

    if len(paths) == 1 and paths[0].is_dir() and is_bundle(paths[0]):
        capture = BundlePaths(paths[0]).capture
        return capture_set([capture]) if capture.is_file() else None
    return capture_set(paths)


def read_ahead(captures, engine: Engine, progress):
    """The fast engine's read of the capture set, started now (analysis.stream.reading); a null context when it
    cannot start."""
    if engine is not Engine.fast or captures is None:
        return nullcontext()  # the analysis reports what is wrong with the path
    from analysis.stream.reading import BatchRead  # numpy and the C module only: quick

    return BatchRead(captures, progress)


class progress_bars:
    """Context manager giving one (done, total) callback per phase ("reading", "writing"), each with its bar,
    for a capture set (captures_of) of at least ``big_file_bytes``; Nones otherwise."""

    def __init__(self, captures, *phases: str, big_file_bytes: int = BIG_FILE_BYTES):
        self.phases = phases
        self.enabled = captures is not None and captures.bytes >= big_file_bytes
        self.bar = None

    def __enter__(self) -> list:
        if not self.enabled:
            return [None for _ in self.phases]
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                            console=err, transient=True)
        self.bar.start()
        return [self._callback(self.bar.add_task(phase, total=None)) for phase in self.phases]

    def _callback(self, task):
        def update(done: int, total: int) -> None:
            self.bar.update(task, completed=done, total=total)

        return update

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False
