"""The steps of the comments are the ladder's: same words, same order, same numbers (❶❷❸), same rows.

The ladder numbers a Diagnosis one connection at a time (analysis.plots.highlights); annotate numbers every
connection of the table at once (analysis.annotate.steps). The two must not drift apart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis.annotate.events import follows, offset
from analysis.annotate.steps import chain_steps
from analysis.diagnosis import diagnosis_of
from analysis.plots.highlights import highlights_from
from tests.conftest import SAMPLES, corpus_files

BUNDLES = sorted(p.name for p in SAMPLES.iterdir() if (p / "meta.json").is_file())


def _ladder(timeline) -> list[tuple]:
    out = []
    for row, record in enumerate(timeline.connections.to_dict("records")):
        for number, h in enumerate(highlights_from(diagnosis_of(record, timeline.sources))):
            out.append((row, number, h.label, h.frame if h.frame is not None else -1, h.ts_ns, h.actor))
    return out


def _annotate(timeline) -> list[tuple]:
    steps = chain_steps(timeline.connections)
    return list(zip(steps["row"], steps["number"], steps["words"], steps["frame"], steps["ts_ns"], steps["actor"]))


@pytest.mark.parametrize("name", BUNDLES)
def test_the_steps_are_the_ladders_on_every_sample_bundle(name):
    timeline = analysis.load(SAMPLES / name)
    assert _annotate(timeline) == _ladder(timeline)
    assert len(_annotate(timeline)) >= 1


STORIES = ("zeek__nmap-vsn.pcap", "ppa3e__http_ip4and6.pcapng", "suricata__tcp-rst-with-data.pcap",
           "zeek__fin_retransmission.pcap", "zeek__m57-long-49600-80.pcap", "ppa3e__tcp_refuseconnection.pcapng")


@pytest.mark.parametrize("path", [p for p in corpus_files() if p.name in STORIES], ids=lambda p: p.name)
def test_the_steps_are_the_ladders_on_corpus_captures(path):
    timeline = analysis.load(path)
    assert _annotate(timeline) == _ladder(timeline)


def test_an_event_goes_on_the_frame_it_follows():
    packets = pd.DataFrame({"conn": [0, 1, 0, 1, 0], "frame": [1, 2, 3, 4, 5], "ts_ns": [10, 20, 30, 40, 50]})
    events = [(0, 5), (0, 30), (1, 45), (-1, 15), (-1, 5), (0, 60), (1, 20)]
    frame, at = follows(packets, np.array([c for c, _ in events]), np.array([t for _, t in events]))
    # before its connection's first packet: on that packet; at a packet's very time: after it; untied: any packet
    assert frame.tolist() == [1, 3, 4, 1, 1, 5, 2]
    assert at.tolist() == [10, 30, 40, 10, 10, 50, 20]
    assert [offset(t, f) for (_, t), f in zip(events, at.tolist())][:3] == [
        "5 ns before this frame", "at this frame's time", "+5 ns after this frame"]
