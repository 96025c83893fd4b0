"""Ctrl-C and SIGTERM as a run sees them: one KeyboardInterrupt, at a moment where nothing can leak.

Two tools:

- :func:`signals_as_interrupts` (the run's whole life): SIGINT and SIGTERM
  raise KeyboardInterrupt once, naming the signal; later ones are only
  noted, so clean-up is never cut short. ``Received.quiet()`` marks a stretch
  (writing meta.json, handing the bundle over) where even the first one is
  only noted; the run reads ``Received.names`` afterwards.
- :func:`deferred` (a few lines at a time): around "start a process and
  register it for clean-up". A Python signal handler can raise between any
  two bytecodes, also after ``fork()`` and before the child's pid is stored
  anywhere, which leaked a running server or a root tcpdump. Inside
  ``deferred()`` a signal is held; it is delivered as soon as the block
  ends, when the child is already on the clean-up stack:

      with ExitStack() as stack:
          with deferred():
              child = spawn(argv)
              stack.callback(child.terminate)
          ...   # a held Ctrl-C is raised here, and the stack stops the child

Python runs signal handlers in the main thread only, so both are no-ops
elsewhere (a probe pool's threads, a test's helper thread).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

#: the signals a run turns into an orderly stop
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class Received:
    """The stop signals a run received, by name, in order."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._quiet = 0

    def handler(self, signum, frame) -> None:
        self.names.append(signal.Signals(signum).name)
        if len(self.names) == 1 and not self._quiet:
            raise KeyboardInterrupt(self.names[0])

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """Within this block a first signal is only noted (the caller checks ``names`` afterwards)."""
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[Received]:
    received = Received()
    if not _in_main_thread():
        yield received
        return
    previous = {sig: signal.signal(sig, received.handler) for sig in STOP_SIGNALS}
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM for the duration of the block, then hand them to whoever handled them before."""
    if not _in_main_thread():
        yield
        return
    held: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: held.append(signum)) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        for signum in held:
            _deliver(previous[signum], signum)


def _deliver(handler, signum: int) -> None:
    if callable(handler):
        handler(signum, None)  # ours or Python's default_int_handler: raises KeyboardInterrupt
    elif handler == signal.SIG_DFL:
        os.kill(os.getpid(), signum)  # the default action (SIGTERM: the process ends)
