import pytest

from analysis.plots import Highlight, plot_lanes, plot_tseq

from tests.analysis.plots.figcheck import all_text, outside, overlapping
from tests.analysis.plots.timelines import FLOW, frame_of, timeline, two_flows


@pytest.fixture(scope="module")
def lanes():
    tl = two_flows()
    return plot_lanes(tl, highlights=[Highlight("RST", frame=frame_of(tl, "RST"))], title="two aborted requests")


def test_lanes_show_both_connections_with_a_lane_per_observer(lanes):
    text = all_text(lanes)
    assert "connection 1: 127.0.0.1:39262 → 127.0.0.1:18061" in text
    assert "connection 2: 127.0.0.1:39270 → 127.0.0.1:18061" in text
    for lane in ("packets client → server", "packets server → client", "server syscalls", "client kernel",
                 "server kernel", "client app", "server app"):
        assert lane in text
    for label in ("FIN", "RST", "DATA 4096", "write EPIPE", "CLOSE_WAIT", "❶ RST"):
        assert label in text


def test_lanes_labels_do_not_overlap(lanes):
    assert overlapping(lanes) == []
    assert outside(lanes) == []


def test_lanes_of_one_flow_by_number():
    fig = plot_lanes(two_flows(), flows=[2])
    assert "39270" in all_text(fig) and "connection 1: 127.0.0.1:39262" not in all_text(fig)


@pytest.fixture(scope="module")
def tseq():
    return plot_tseq(timeline(), FLOW, title="tseq")


def test_tseq_marks_fin_rst_and_the_seq_ranges(tseq):
    text = all_text(tseq)
    for label in ("FIN", "RST", "SYN", "1:4097", "1:80", "write EPIPE", "server → client\nrelative seq (bytes)"):
        assert label in text


def test_tseq_labels_do_not_overlap(tseq):
    assert overlapping(tseq) == []
    assert outside(tseq) == []
