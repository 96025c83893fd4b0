"""`abortscope plot` end to end: a capture written here, and the canonical bundle when present."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from matplotlib.image import imread
from typer.testing import CliRunner

from abortscope.cli import app
from tests.conftest import SAMPLES, unavailable
from tests.analysis.plots.timelines import BASE_NS, ROWS

runner = CliRunner()
CLIENT_PORT, SERVER_PORT = 39262, 18061
CLIENT_ISN, SERVER_ISN = 526236445, 2425183663


def _write_capture(path):
    """The packets of the literal 8061 run as a pcap (scapy writes it; no capture, no root)."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    packets = []
    for dt_ns, source, actor, kind, frame, flags, seq, ack, length, _, _ in ROWS:
        if source != "packet":
            continue
        client = actor == "client"
        sport, dport = (CLIENT_PORT, SERVER_PORT) if client else (SERVER_PORT, CLIENT_PORT)
        isn, peer_isn = (CLIENT_ISN, SERVER_ISN) if client else (SERVER_ISN, CLIENT_ISN)
        tcp_flags = flags.replace(".", "A")
        segment = TCP(sport=sport, dport=dport, flags=tcp_flags, seq=(isn + seq) % 2**32,
                      ack=0 if ack is None else (peer_isn + ack) % 2**32, window=65483)
        packet = Ether() / IP(src="127.0.0.1", dst="127.0.0.1") / segment / (b"\0" * length)
        packet.time = (BASE_NS + dt_ns) / 1e9
        packets.append(packet)
    wrpcap(str(path), packets)
    return path


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    return _write_capture(tmp_path_factory.mktemp("cap") / "go-8061.pcap")


def test_plot_ladder_svg_from_a_capture(capture, tmp_path):
    out = tmp_path / "ladder.svg"
    result = runner.invoke(app, ["plot", str(capture), "--kind", "ladder", "-o", str(out)])
    assert result.exit_code == 0, result.output
    svg = out.read_text()
    ET.fromstring(svg)
    for label in ("FIN", "DATA", "RST", "1:4097 (4096)"):
        assert label in svg


@pytest.mark.parametrize("kind", ["lanes", "tseq"])
def test_plot_png_kinds_are_800_px_wide(capture, tmp_path, kind):
    out = tmp_path / f"{kind}.png"
    result = runner.invoke(app, ["plot", str(capture), "--kind", kind, "--flow", "1", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert imread(out).shape[1] == 800


def test_plot_refuses_unknown_flows_and_image_types(capture, tmp_path):
    result = runner.invoke(app, ["plot", str(capture), "--flow", "7", "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 1 and "no connection number 7" in result.output
    result = runner.invoke(app, ["plot", str(capture), "-o", str(tmp_path / "x.jpg")])
    assert result.exit_code == 1 and ".svg or .png" in result.output


def _sample(name: str):
    bundle = SAMPLES / name
    if not (bundle / "meta.json").is_file():
        unavailable(f"sample bundle {bundle} not present yet (`make samples` creates it)")
    return bundle


def test_the_8061_bundle_ladder_shows_fin_data_rst_and_epipe_with_the_chain(tmp_path):
    from analysis import load
    from analysis.plots import plot_ladder, scenario_title
    from analysis.plots.bundle_figures import diagnosis_for, write_bundle_figures
    from tests.analysis.plots.figcheck import all_text, outside, overlapping

    bundle = _sample("go-curl-8061")
    timeline = load(bundle)
    flow = timeline.diagnose()[0].flow if len(timeline.flows) == 1 else None
    from analysis.plots import resolve_flow

    flow = resolve_flow(timeline.events, flow)
    diagnosis = diagnosis_for(timeline, flow)
    fig = plot_ladder(timeline.events, flow, highlights=diagnosis, title=scenario_title(timeline.meta, diagnosis))
    text = all_text(fig)
    for label in (" FIN [F", " DATA [P.] 1:4097 (4096)", " RST [R", "write() fails: EPIPE", "❶", "go + curl"):
        assert label in text
    assert overlapping(fig) == [] and outside(fig) == []
    assert write_bundle_figures(timeline, tmp_path) == ["ladder.svg", "timeline.png"]
    assert imread(tmp_path / "timeline.png").shape[1] == 800
    ET.parse(tmp_path / "ladder.svg")
