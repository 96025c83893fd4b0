from analysis.plots import style
from analysis.plots.labels import event_label, format_duration_ns, packet_label

from tests.analysis.plots.timelines import timeline


def _row(tl, **match):
    sel = tl
    for key, value in match.items():
        sel = sel[sel[key].astype(str) == str(value)]
    return sel.iloc[0].to_dict()


def test_packet_labels_read_like_tcpdump():
    tl = timeline()
    assert packet_label(_row(tl, kind="DATA", actor="server")) == "#8 DATA [P.] 1:4097 (4096)"
    assert packet_label(_row(tl, kind="FIN")) == "#6 FIN [F.] seq 80 ack 1"
    assert packet_label(_row(tl, kind="RST")) == "#9 RST [R] seq 81"
    assert packet_label(_row(tl, kind="SYN-ACK")) == "#2 SYN-ACK [S.] seq 0 ack 1"


def test_event_labels_say_what_the_side_saw():
    tl = timeline()
    assert event_label(_row(tl, source="syscall", kind="write_error")) == "write() fails: EPIPE"
    assert event_label(_row(tl, source="syscall", kind="write")) == "write() 4096 B ok"
    assert event_label(_row(tl, source="syscall", kind="read_eof")) == "read() = 0: EOF"
    assert event_label(_row(tl, detail="ESTABLISHED->CLOSE_WAIT")) == "state → CLOSE_WAIT"
    assert event_label(_row(tl, kind="rst_sent")) == "kernel sends RST (NO_SOCKET)"
    assert event_label(_row(tl, kind="signal")) == "signal SIGPIPE"


def test_eagain_is_drawn_muted_not_as_a_failure():
    tl = timeline()
    row = _row(tl, kind="read_error")
    assert event_label(row) == "read() → EAGAIN"
    assert style.event_style("syscall", "read_error", "EAGAIN").colour == style.PALETTE["grey"]
    assert style.event_style("syscall", "write_error", "EPIPE").colour == style.PALETTE["vermillion"]


def test_every_style_uses_the_colour_blind_safe_palette():
    palette = set(style.PALETTE.values())
    assert {s.colour for s in style.EVENT_STYLES.values()} <= palette
    assert {s.colour for s in style.PACKET_STYLES.values()} <= palette


def test_gap_lengths_are_printed_in_a_readable_unit():
    assert format_duration_ns(670_000_000) == "670 ms"
    assert format_duration_ns(41_800_000) == "42 ms"
    assert format_duration_ns(4_180_000) == "4.2 ms"
    assert format_duration_ns(1_200_000_000) == "1.20 s"
    assert format_duration_ns(16_000) == "16.0 µs"


def test_every_verdict_has_a_short_story_for_the_plot_titles():
    from analysis.diagnosis.verdicts import Verdict
    from analysis.plots.titles import VERDICT_STORIES

    assert set(VERDICT_STORIES) == set(Verdict)
    assert all(story.format(closer="client") for story in VERDICT_STORIES.values())
