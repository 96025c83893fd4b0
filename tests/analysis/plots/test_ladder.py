import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest
from matplotlib.image import imread

from analysis.plots import Highlight, PlotInputError, plot_ladder, save

from tests.analysis.plots.figcheck import all_text, outside, overlapping
from tests.analysis.plots.timelines import FLOW, frame_of, timeline, ts_of

TITLE = "go + curl, body 8061 B: write after client FIN → RST → EPIPE"


def _chain(tl):
    return [Highlight("client closes", frame=frame_of(tl, "FIN")),
            Highlight("first write still succeeds", ts_ns=ts_of(tl, "syscall", "write"), actor="server"),
            Highlight("RST", frame=frame_of(tl, "RST")),
            Highlight("second write fails: EPIPE", ts_ns=ts_of(tl, "syscall", "write_error"), actor="server")]


@pytest.fixture(scope="module")
def ladder():
    tl = timeline()
    return plot_ladder(tl, FLOW, highlights=_chain(tl), title=TITLE)


def test_fin_data_rst_and_epipe_are_all_labelled(ladder):
    text = all_text(ladder)
    for expected in ("#6 FIN [F.] seq 80 ack 1", "#8 DATA [P.] 1:4097 (4096)", "#9 RST [R] seq 81",
                     "write() fails: EPIPE", "write() 4096 B ok", "read() = 0: EOF", "state → CLOSE_WAIT",
                     "kernel sends RST (NO_SOCKET)", TITLE):
        assert expected in text


def test_the_causal_chain_is_numbered_in_order(ladder):
    text = all_text(ladder)
    for badge, words in zip("❶❷❸❹", ("client closes", "first write still succeeds", "RST",
                                     "second write fails: EPIPE")):
        assert f"{badge} {words}" in text


def test_no_label_overlaps_another_or_leaves_the_figure(ladder):
    assert overlapping(ladder) == []
    assert outside(ladder) == []


def test_the_idle_gaps_are_cut_and_say_how_long_they_were(ladder):
    text = all_text(ladder)
    assert "≈ 289 ms idle (cut)" in text
    assert "≈ 670 ms idle (cut)" in text
    assert "1004.196 ms" in text  # the EPIPE row keeps its real time


def test_png_is_800_px_wide_at_100_dpi_and_scales_with_dpi(ladder, tmp_path):
    assert imread(save(ladder, tmp_path / "l.png")).shape[1] == 800
    assert imread(save(ladder, tmp_path / "l2.png", dpi=200)).shape[1] == 1600


def test_svg_is_written_and_parses_with_the_labels_as_text(ladder, tmp_path):
    path = save(ladder, tmp_path / "ladder.svg")
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    assert "EPIPE" in path.read_text()


def test_a_diagnosis_like_object_is_accepted_as_highlights():
    tl = timeline()
    rows = tl[tl["kind"].isin(["FIN", "RST"])].assign(label=["closes", "resets"])
    text = all_text(plot_ladder(tl, highlights=SimpleNamespace(evidence=rows)))
    assert "❶ closes" in text and "❷ resets" in text


def test_the_default_flow_is_the_failing_one_and_unknown_flows_are_named():
    tl = timeline()
    assert FLOW.replace(">", " → ") in all_text(plot_ladder(tl))
    with pytest.raises(PlotInputError, match="39262"):
        plot_ladder(tl, flow="10.0.0.1:1>10.0.0.2:2")


def test_unsupported_image_type_is_a_clear_error(ladder, tmp_path):
    with pytest.raises(PlotInputError, match=".png or .svg"):
        save(ladder, tmp_path / "ladder.jpg")
