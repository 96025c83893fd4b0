"""The packet comments of a capture: the verdicts, the causal steps and the events, by frame.

On a connection's first frame, its verdict: ``abortscope: WRITE_AFTER_PEER_FIN_RST_EPIPE — the server
wrote after the client's FIN, got RST, and its next write failed with EPIPE (127.0.0.1:55858>...
[RSTO ShADaFdR]; ❶ frame 6; ❷ after frame 7; ...)``. On each step's frame, the step as the ladder
numbers it (steps.py), with its facts: ``❸ server sends data after the FIN (4096 bytes, 693.4 ms after
the client's FIN)``; a step that is not a packet (a syscall, the application) goes on the frame it
follows (events.py): ``❺ next write fails: EPIPE — server: write(4<TCP:...>, ...) = -1 EPIPE (Broken
pipe) <0.000027> (+140 µs after this frame)``. Then, unless left out, every other syscall, kernel and
application event of the connections, on the frame it follows, in the vocabulary of the plots'
labels (analysis.plots.labels.event_text).

On a frame, the verdict comes first, then the steps and events in time order. In an extract (a few
connections of a capture), each comment ends with the frame's number in the original capture, since
the extract numbers its frames anew.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis.annotate.events import follows, offset
from analysis.annotate.steps import chain_steps
from analysis.diagnosis.verdicts import RULE_OF, Verdict
from analysis.events._columns import string_arrow
from analysis.plots.labels import event_text
from analysis.plots.style import badge
from analysis.tcp import sides

#: The order of the comments on one frame: the verdict, then the story in time order.
VERDICT, STORY = 0, 1
PREFIX = "abortscope: "


@dataclass(frozen=True)
class FrameComments:
    """Comments by frame: ``frames`` sorted, each once; ``texts[bounds[i]:bounds[i + 1]]`` are the comments of
    ``frames[i]``, in order (an Arrow string array: a million comments are not a million Python objects)."""

    frames: np.ndarray
    bounds: np.ndarray
    texts: pa.Array

    def of(self, frame: int) -> list[str]:
        i = int(np.searchsorted(self.frames, frame))
        found = i < len(self.frames) and self.frames[i] == frame
        return self.texts[self.bounds[i] : self.bounds[i + 1]].to_pylist() if found else []


def frame_comments(table: pd.DataFrame, packets: pd.DataFrame, events: pd.DataFrame | None,
                   extract: bool = False) -> FrameComments:
    """The comments for the connections of ``table`` (rows of the connection table). ``packets``: the packet
    table (conn, frame, ts_ns); ``events``: the other timeline rows to comment (None: the steps only).
    ``extract``: say the original frame number in each comment."""
    steps = chain_steps(table)
    step_frame = steps["frame"].to_numpy(np.int64).copy()
    on_packets = step_frame >= 0
    frame_ts = steps["ts_ns"].to_numpy(np.int64).copy()
    if not on_packets.all():  # the steps that are events go on the frames they follow
        step_frame[~on_packets], frame_ts[~on_packets] = follows(
            packets, steps["conn"].to_numpy(np.int64)[~on_packets], steps["ts_ns"].to_numpy(np.int64)[~on_packets])
    parts = [_verdicts(table, steps, step_frame), _steps(steps, on_packets, step_frame, frame_ts)]
    if events is not None and len(events):
        parts.append(_events(events, steps, packets))
    frames = np.concatenate([p.frame for p in parts])
    order = np.lexsort((np.concatenate([np.arange(len(p.frame)) for p in parts]),
                        np.concatenate([p.ts_ns for p in parts]),
                        np.concatenate([np.full(len(p.frame), p.group) for p in parts]), frames))
    order = order[frames[order] >= 0]
    texts = pa.concat_arrays([_arrow(p.texts) for p in parts])
    del parts, steps  # the pieces go before the ordered copy is made
    texts, frames = texts.take(pa.array(order)), frames[order]
    if extract:
        texts = _concat(texts, " (frame ", pc.cast(pa.array(frames), pa.large_string()), " of the original capture)")
    unique, first = np.unique(frames, return_index=True)
    return FrameComments(unique, np.append(first, len(texts)).astype(np.int64), texts)


def joined(parts: list[FrameComments]) -> FrameComments:
    """The comments of parts made for different connections with no event between them, as one: each frame's
    comments come from the part of the connection it belongs to, in that part's order."""
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return FrameComments(np.zeros(0, np.int64), np.zeros(1, np.int64), pa.array([], pa.large_string()))
    frame_of_text = np.concatenate([np.repeat(p.frames, np.diff(p.bounds)) for p in parts])
    order = np.argsort(frame_of_text, kind="stable")
    texts, frames = pa.concat_arrays([p.texts for p in parts]).take(pa.array(order)), frame_of_text[order]
    unique, first = np.unique(frames, return_index=True)
    return FrameComments(unique, np.append(first, len(texts)).astype(np.int64), texts)


def _arrow(texts) -> pa.Array:
    return texts.cast(pa.large_string()) if isinstance(texts, pa.Array) else pa.array(texts, pa.large_string())


@dataclass(frozen=True)
class _Part:
    """Comments of one kind, before they are put in frame order."""

    frame: np.ndarray  # int64, -1: no frame to put it on
    group: int  # VERDICT or STORY
    ts_ns: np.ndarray
    texts: pa.Array | list[str]


def _verdicts(table: pd.DataFrame, steps: pd.DataFrame, step_frame: np.ndarray) -> _Part:
    """On each connection's first frame: its verdict, its summary, its id and history, where its steps are.
    Made column-wise in Arrow: one Python call per distinct (verdict, closer, writer), not per connection."""
    verdict = table["verdict"].cat.codes.to_numpy(np.int64)
    closer, writer = sides.codes(table["closer"]).astype(np.int64), sides.codes(table["writer"]).astype(np.int64)
    kinds, codes = np.unique(verdict * 9 + (closer + 1) * 3 + writer + 1, return_inverse=True)
    names = ("a side", *sides.SIDES)  # by side code + 1
    summaries = [RULE_OF[Verdict(table["verdict"].cat.categories[k // 9])].summary.format(
        client="client", server="server", closer=names[k % 9 // 3], writer=names[k % 3]) for k in kinds.tolist()]
    on_packet = pa.array((steps["frame"] >= 0).to_numpy(bool))
    said = _concat("; ", _badges(steps["number"].to_numpy(np.int64)), pc.if_else(on_packet, " frame ", " after frame "),
                   pc.cast(pa.array(step_frame), pa.large_string()))
    bounds = np.searchsorted(steps["row"].to_numpy(np.int64), np.arange(len(table) + 1))  # steps come row by row
    where = pc.binary_join(pa.LargeListArray.from_arrays(pa.array(bounds, pa.int64()), said),
                           pa.scalar("", pa.large_string()))
    guessed = pc.if_else(pa.array(table["role_guessed"].to_numpy(bool)), " (roles guessed: no SYN seen)", "")
    texts = _concat(PREFIX, string_arrow(table["verdict"].astype("string")), " — ",
                    pa.array(summaries, pa.large_string()).take(pa.array(codes)), " (", string_arrow(table["flow"]),
                    " [", string_arrow(table["conn_state"]), " ", string_arrow(table["history"]), "]", guessed, where,
                    ")")
    return _Part(table["first_frame"].to_numpy(np.int64), VERDICT, table["first_ts_ns"].to_numpy(np.int64), texts)


def _steps(steps: pd.DataFrame, on_packets: np.ndarray, step_frame: np.ndarray, frame_ts: np.ndarray) -> _Part:
    """Each step on its frame: a packet's with its facts (column-wise), an event's with who did what and when."""
    facts = string_arrow(steps["facts"].astype("string"))
    words = _concat(_badges(steps["number"].to_numpy(np.int64)), " ", string_arrow(steps["words"].astype("string")))
    texts = pc.if_else(pc.is_valid(facts), _concat(words, " (", facts, ")"), words)
    events = np.flatnonzero(~on_packets)
    if len(events):  # few (a traced syscall, an application's line): in Python
        texts = texts.to_pylist()
        for i in events.tolist():
            actor, detail = steps["actor"].iat[i], steps["detail"].iat[i]
            what = f"{actor}: {' '.join(detail.split())}" if isinstance(detail, str) else str(actor)
            texts[i] = f"{texts[i]} — {what} ({offset(int(steps['ts_ns'].iat[i]), int(frame_ts[i]))})"
    return _Part(step_frame, STORY, steps["ts_ns"].to_numpy(np.int64), texts)


def _badges(numbers: np.ndarray) -> pa.Array:
    """❶ for 0, ❷ for 1, ... (analysis.plots.style.badge), made once per number."""
    table = pa.array([badge(n) for n in range(int(numbers.max()) + 1 if len(numbers) else 0)], pa.large_string())
    return table.take(pa.array(numbers))


def _concat(*parts) -> pa.Array:
    """Element-wise concatenation of Arrow string arrays and str scalars (a null element counts as "")."""
    text = pa.large_string()
    return pc.binary_join_element_wise(*(p.cast(text) if isinstance(p, pa.Array) else pa.scalar(p, text)
                                         for p in parts), pa.scalar("", text), null_handling="skip")


def _events(events: pd.DataFrame, steps: pd.DataFrame, packets: pd.DataFrame) -> _Part:
    """Every event but those that are steps (already said), on the frame it follows."""
    conn = events["conn"].to_numpy(np.int64, na_value=-1)
    ts = events["ts_ns"].to_numpy(np.int64)
    source = events["source"].astype(str).to_numpy(object)
    is_step = pd.MultiIndex.from_arrays([conn, source, ts]).isin(
        pd.MultiIndex.from_arrays([steps["conn"].to_numpy(np.int64), steps["source"].to_numpy(object),
                                   steps["ts_ns"].to_numpy(np.int64)]))
    keep = np.flatnonzero(~is_step)
    frame, frame_ts = follows(packets, conn[keep], ts[keep])
    texts = []
    for record, tied, when, before in zip(events.iloc[keep].to_dict("records"), (conn[keep] >= 0).tolist(),
                                          ts[keep].tolist(), frame_ts.tolist()):
        actor = record.get("actor")
        who = f"{actor}: " if isinstance(actor, str) else "" if tied else "not tied to a connection: "
        texts.append(f"{who}{event_text(record)} ({offset(when, before)})")
    return _Part(frame, STORY, ts[keep], texts)
