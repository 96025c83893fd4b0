"""What a pass of the connection fold hands its results to (analysis.stream.passes.Output), one job each.

    Flows            every connection's flows row, sorted by connection at the end (what load() returns)
    KeptPackets      the annotated packets, all of them or those of some connections, up to a budget
    ConnectionRows   the connection table, a chunk of ended connections at a time, handed to a callback
    analysis.stream.timeline.TimelineRows   the timeline rows, in time order, handed to a writer
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pandas as pd

from analysis.schema import empty
from analysis.stream.passes import Ended, Output
from analysis.tcp.finish import Names, flows_table
from analysis.tcp.fold import ConnectionFold, Step
from analysis.tcp.state import States


def _by_conn(frames: list[pd.DataFrame]) -> pd.DataFrame:
    joined = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    conn = joined["conn"].to_numpy()
    if len(conn) > 1 and not (conn[1:] > conn[:-1]).all():
        joined = joined.take(np.argsort(conn, kind="stable")).reset_index(drop=True)
    return joined


class Flows(Output):
    """Every connection's flows-table row; :attr:`table` once the pass is done."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []
        self.table: pd.DataFrame | None = None

    def start(self, attempt: int) -> None:
        self.parts, self.table = [], None

    def ended(self, ended: Ended) -> None:
        self.parts.append(ended.flows())

    def end(self) -> None:
        self.table = _by_conn(self.parts) if self.parts else None
        self.parts = []


class KeptPackets(Output):
    """The annotated packets (analysis.tcp.build_flows' first table), in frame order: every one, or those of the
    connections ``conns``. Past ``budget`` rows, the batches that fit are kept and no later one
    (:attr:`complete` False): the kept rows are every packet up to frame :attr:`through_frame`, and the caller
    reads again what it needs beyond."""

    def __init__(self, conns: np.ndarray | None = None, budget: int | None = None):
        self.conns = None if conns is None else np.unique(np.asarray(conns, dtype=np.int64))
        self.budget = budget
        self.parts: list[pd.DataFrame] = []
        self.rows = 0
        self.complete = True
        self.through_frame = -1  # every packet up to this frame is kept (the last of the kept batches)

    def start(self, attempt: int) -> None:
        self.parts, self.rows, self.complete, self.through_frame = [], 0, True, -1

    def batch(self, step: Step, fold: ConnectionFold) -> None:
        if not self.complete:
            return
        packets = step.packets
        if self.conns is not None:
            packets = packets[np.isin(packets["conn"].to_numpy(), self.conns)]
        if self.budget is not None and self.rows + len(packets) > self.budget:
            self.complete = False
            return
        self.rows += len(packets)
        self.through_frame = int(step.packets["frame"].iloc[-1])
        if len(packets):
            self.parts.append(packets)

    def covers(self, last_frame: int) -> bool:
        """Every packet up to ``last_frame`` is kept."""
        return self.complete or last_frame <= self.through_frame

    def table(self, categories: dict[str, pd.Index]) -> pd.DataFrame | None:
        """The kept rows as one frame (None when none is kept); ``categories``: the categories the src, dst and
        vlan columns of every batch get (their codes index these; batches carry those known so far)."""
        if not self.parts:
            return None
        parts = [_recoded(p, categories) for p in self.parts]
        self.parts = []
        return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)


def _recoded(packets: pd.DataFrame, categories: dict[str, pd.Index]) -> pd.DataFrame:
    out = packets.copy(deep=False)
    for name, index in categories.items():
        column = packets[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            codes = index.get_indexer(column.cat.categories)[column.cat.codes.to_numpy()]
            out[name] = pd.Categorical.from_codes(codes, categories=index)
    return out


#: ConnectionRows makes rows of this many ended connections at a time (fewer at the end)
TABLE_CHUNK = 1 << 15


class ConnectionRows(Output):
    """The connection table of the ended connections, ``chunk`` connections at a time (fewer at the end), each
    chunk by connection number (``ordered``; else in the order they ended, for a consumer that only counts and
    ranks), handed to ``take``. The states are kept until a chunk is full and made rows then, once: on a
    thread of their own (``threaded``), one chunk after the other, while the pass folds the next batches
    (``take`` is called there). Packets only: the table's evidence from other sources needs every connection
    first (analysis.api does that the whole-table way)."""

    def __init__(self, take: Callable[[pd.DataFrame], None], restart: Callable[[], None] | None = None,
                 chunk: int | None = None, ordered: bool = True, threaded: bool = True):
        self.take, self.restart = take, restart  # restart: a pass begins (again), once the chunks before are taken
        self.chunk, self.ordered = chunk or TABLE_CHUNK, ordered
        self.parts: list[States] = []
        self.pending = 0
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="connection-rows") if threaded else None
        self._job: Future | None = None

    def start(self, attempt: int) -> None:
        self._wait()
        self.parts, self.pending, self.fold = [], 0, None
        if self.restart is not None:
            self.restart()

    def ended(self, ended: Ended) -> None:
        self.parts.append(ended.states)
        self.fold = ended.fold
        self.pending += len(ended)
        if self.pending >= self.chunk:
            self._hand_over()

    def end(self) -> None:
        if self.parts:
            self._hand_over()
        self._wait()
        if self._worker is not None:
            self._worker.shutdown()

    def _hand_over(self) -> None:
        """The pending states to rows, on the worker when there is one (after the chunk before: in order). The
        ids are named as they stand now (the fold goes on numbering addresses meanwhile)."""
        parts, names = self.parts, self.fold.names()
        self.parts, self.pending = [], 0
        self._wait()
        if self._worker is None:
            self._rows(parts, names)
        else:
            self._job = self._worker.submit(self._rows, parts, names)

    def _wait(self) -> None:
        """The chunk under way done (its failure raised here, in the pass's thread)."""
        job, self._job = self._job, None
        if job is not None:
            job.result()

    def _rows(self, parts: list[States], names: Names) -> None:
        from analysis.diagnosis import connection_table

        # each copy of the states is some 30 MB of fresh memory a chunk: one part is used as it is, and parts
        # already in order are not reordered
        states = parts[0] if len(parts) == 1 else States.joined(parts)
        del parts
        conn = states["conn"]
        if self.ordered and len(conn) > 1 and not (conn[1:] > conn[:-1]).all():
            states = states.take(np.argsort(conn, kind="stable"))
        self.take(connection_table(flows_table(states, names), empty()))
