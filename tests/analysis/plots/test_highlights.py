from dataclasses import dataclass
from types import SimpleNamespace

import pandas as pd
import pytest

from analysis.plots.highlights import Highlight, highlights_from, match

from tests.analysis.plots.timelines import BASE_NS, frame_of, timeline, ts_of


@dataclass(frozen=True)
class FakeEvidence:  # the shape of analysis.diagnosis.Evidence
    label: str
    source: str
    ts_ns: int
    actor: str | None
    kind: str
    frame: int | None = None
    errno: str | None = None


def _diagnosis(tl):
    def ev(label, source, kind, actor, errno=None):
        rows = tl[(tl["source"] == source) & (tl["kind"] == kind)]
        row = rows.iloc[0]
        frame = None if pd.isna(row["frame"]) else int(row["frame"])
        return FakeEvidence(label, source, int(row["ts_ns"]), actor, kind, frame, errno)

    evidence = (ev("fin", "packet", "FIN", "client"), ev("read_eof", "syscall", "read_eof", "server"),
                ev("write_after_fin", "syscall", "write", "server"), ev("late_data", "packet", "DATA", "server"),
                ev("first_rst", "packet", "RST", "client"), ev("rst_answer", "packet", "RST", "client"),
                ev("syscall_error", "syscall", "write_error", "server", "EPIPE"),
                ev("write_error", "syscall", "write_error", "server", "EPIPE"))
    return SimpleNamespace(flow="x", verdict="WRITE_AFTER_PEER_FIN_RST_EPIPE", evidence=evidence)


def test_a_diagnosis_becomes_a_numbered_chain_in_time_order_one_step_per_row():
    tl = timeline()
    chain = highlights_from(_diagnosis(tl))
    assert [h.label for h in chain] == [
        "client closes (FIN)", "write still succeeds after the FIN", "server sends data after the FIN",
        "client's kernel answers with RST", "next write fails: EPIPE"]
    assert chain[0].frame == frame_of(tl, "FIN")
    assert chain[-1].ts_ns == ts_of(tl, "syscall", "write_error")


def test_tuples_take_frames_below_a_trillion_and_ts_ns_above():
    by_frame, by_time = highlights_from([(6, "client", "client closes"), (BASE_NS + 5, None, "later")])
    assert by_frame == Highlight("client closes", frame=6, actor="client")
    assert by_time == Highlight("later", ts_ns=BASE_NS + 5)


def test_evidence_rows_as_a_dataframe_and_explicit_chain_are_accepted():
    tl = timeline()
    rows = tl[tl["kind"].isin(["FIN", "RST"])].assign(label=["closes", "resets"])
    assert [h.label for h in highlights_from(SimpleNamespace(evidence=rows))] == ["closes", "resets"]
    chain = SimpleNamespace(chain=[Highlight("one", frame=1)], evidence=rows)
    assert highlights_from(chain) == [Highlight("one", frame=1)]
    assert highlights_from(None) == [] and highlights_from(object()) == []


def test_match_finds_packets_by_frame_and_events_by_time_and_actor():
    tl = timeline().reset_index(drop=True)
    write_ts = ts_of(tl, "syscall", "write")
    found = match([Highlight("rst", frame=9), Highlight("w", ts_ns=write_ts + 10, actor="server"),
                   Highlight("nowhere", frame=99)], tl)
    assert {tl.loc[i, "kind"] for i in found} == {"RST", "write"}
    assert len(found) == 2


def test_a_highlight_needs_a_place():
    with pytest.raises(ValueError):
        Highlight("floating")
