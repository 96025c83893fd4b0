"""One pass of the connection fold over a capture's packet batches, handing what it learns to outputs; again if needed.

    result = run(source, [outputs...], files)

``source(attempt)`` gives the capture's packet batches (analysis.pcap.table
frames, lean, with ``file``), in capture order, afresh for each attempt.
Each batch goes through analysis.tcp.fold.ConnectionFold; every output sees
each annotated batch (:meth:`Output.batch`) and the connections as they end
(:meth:`Output.ended`: a reused 4-tuple ends its previous connection; the
rest end with the capture, in chunks of :data:`CHUNK_CONNECTIONS`). Memory: the batch being worked on, the state of
the connections still open, and what the outputs keep.

When the fold reports that a later batch changed what an earlier one had
assumed (analysis.tcp.fold: a VLAN split after the fact, a role or an ISN
learnt late, a half-close outgrown), or an output says it cannot be exact
(the timeline's time order, analysis.stream.timeline), the pass is run again
with what it learnt; every output starts over (:meth:`Output.start`). On
real captures that is rare; a pass run again is exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd

from analysis.tcp.finish import Names
from analysis.tcp.fold import ConnectionFold, Hints, Step
from analysis.tcp.state import States

#: live connections are turned into flows rows at most this many at a time, at the end
CHUNK_CONNECTIONS = 1 << 17
#: a pass run again knows more; after this many, something is wrong
MAX_PASSES = 4


class Output:
    """What a pass hands over; every method may be left as is."""

    def start(self, attempt: int) -> None:
        """A pass begins (``attempt`` 0, or again after one that was not exact): forget the last one's rows."""

    def batch(self, step: Step, fold: ConnectionFold) -> None:
        """A batch's packets, annotated (``step.packets``), and its connections as they stand."""

    def ended(self, ended: Ended) -> None:
        """Connections that ended (final): their states, and their flows-table rows on demand."""

    def again(self) -> bool:
        """This output could not be exact in this pass and needs another (it keeps what it learnt)."""
        return False

    def end(self) -> None:
        """The last pass is complete."""


class Ended:
    """Connections that ended (no later packet can join them), by connection number: ``states``
    (analysis.tcp.state), and :meth:`flows`, their flows-table rows, built once if an output asks."""

    def __init__(self, states: States, fold: ConnectionFold):
        self.states, self.fold, self._flows = states, fold, None

    def __len__(self) -> int:
        return len(self.states)

    def flows(self) -> pd.DataFrame:
        if self._flows is None:
            self._flows = self.fold.flows(self.states)
        return self._flows


@dataclass
class PassResult:
    packets: int
    connections: int
    passes: int
    hints: Hints | None  # what the last pass ran with
    names: Names  # what its ids stand for

    def categories(self) -> dict[str, pd.Index]:
        """The categories of the lean packet columns src, dst and vlan once every batch is read."""
        addresses = pd.Index(self.names.addresses, dtype=object)
        return {"src": addresses, "dst": addresses, "vlan": pd.Index(self.names.vlans, dtype=object)}


Source = Callable[[int], Iterable[pd.DataFrame]]


def run(source: Source, outputs: list[Output], files: tuple[str, ...] = ("",), hints: Hints | None = None,
        stop_after_frame: int | None = None) -> PassResult:
    """Fold the capture's batches into the outputs, again with what the pass learnt until one is exact.

    ``stop_after_frame``: stop reading after the batch that passes this frame (the outputs only need the
    packets before it)."""
    for attempt in range(MAX_PASSES):
        for output in outputs:
            output.start(attempt)
        fold = ConnectionFold(hints, files)
        packets = _fold_batches(source(attempt), fold, outputs, stop_after_frame)
        rest = fold.close()
        for start in range(0, len(rest), CHUNK_CONNECTIONS):
            ended = Ended(rest.part(start, min(start + CHUNK_CONNECTIONS, len(rest))), fold)
            for output in outputs:
                output.ended(ended)
        learnt = fold.hazards
        again = [output.again() for output in outputs]  # each output is asked (it keeps what it learnt)
        if learnt is None and not any(again):
            for output in outputs:
                output.end()
            return PassResult(packets, fold.next_conn, attempt + 1, hints, fold.names())
        hints = learnt or hints
    raise RuntimeError(f"the connection pass was still not exact after {MAX_PASSES} passes")


def _fold_batches(batches: Iterable[pd.DataFrame], fold: ConnectionFold, outputs: list[Output],
                  stop_after_frame: int | None) -> int:
    packets = 0
    stream = iter(batches)
    try:
        for batch in stream:
            if not len(batch):
                continue
            step = fold.add(batch)
            packets += len(batch)
            for output in outputs:
                output.batch(step, fold)
            if len(step.finished):
                ended = Ended(step.finished, fold)
                for output in outputs:
                    output.ended(ended)
                del ended
            last_frame = int(batch["frame"].iloc[-1])
            del step, batch  # before the next batch is read and folded: one batch's memory at a time
            if stop_after_frame is not None and last_frame >= stop_after_frame:
                break
    finally:
        getattr(stream, "close", lambda: None)()  # a generator's read-ahead stops now, not when collected
    return packets
