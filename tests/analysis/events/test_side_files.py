"""Damaged side files (issue 13): every good line kept, the bad ones counted, a file with none left out.

The damage is generated here from real lines (tests/analysis/lines.py and a
sample bundle, copied to a temporary directory and then broken): garbage
lines, lines cut short, dates that are no dates, a file of noise, a file
that cannot be read, a meta.json that is binary, a list, or has a bad clock.
"""

from __future__ import annotations

import json
import random
import shutil

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.events.context import ParseContext
from analysis import Read, load
from analysis.errors import ClockError
from analysis.events import app_jsonl, applog, jsonl, kernel, strace
from analysis.events._lines import LineReport
from tests.analysis.helpers import SEED, flows_table
from tests.analysis.lines import GO_LOG, KERNEL_SEED, KERNEL_SEED_OFFSET_NS, STRACE_SEED, STRACE_V6
from tests.conftest import SAMPLES

BUNDLE = SAMPLES / "go-curl-8061"
APP_LINES = (BUNDLE / "app.jsonl").read_text()
GARBAGE = "\x01\x7f garbage \ufffd{not: a line"


def _cut_kernel(line: str) -> str:
    return line[: line.index(": ", line.index("] ")) + 2] + line.split(": ")[1] + ": "  # the event, no fields


#: parser -> (good lines, how to damage one of them, parse(text, lines))
PARSERS = {
    "strace": (STRACE_SEED + STRACE_V6, lambda line: line[: line.index(") = ")] if ") = " in line else GARBAGE,
               lambda text, lines: strace.parse(text, ParseContext(flows=flows_table(SEED), lines=lines))),
    "kernel": (KERNEL_SEED, _cut_kernel,
               lambda text, lines: kernel.parse(text, ParseContext(trace_to_realtime_ns=KERNEL_SEED_OFFSET_NS, flows=flows_table(SEED), lines=lines))),
    "app": (APP_LINES, lambda line: line[: len(line) // 2],
            lambda text, lines: app_jsonl.parse(text, ParseContext(flows=flows_table(SEED), lines=lines))),
    "jsonl": (APP_LINES, lambda line: json.dumps({"ts_ns": "not a time", "msg": line[:20]}),
              lambda text, lines: jsonl.parse(text, ParseContext(flows=flows_table(SEED), lines=lines))),
    "applog": (GO_LOG, lambda line: "2026/13/45 25:61:61" + line[line.index(" ", 11):] if line[:4].isdigit() else
               "2026/02/30 10:00:00 no such day", lambda text, lines: applog.parse(text, ParseContext(tz="UTC", lines=lines))),
}


def _events(frame: pd.DataFrame) -> list[tuple]:
    return list(frame[["ts_ns", "kind", "flow", "detail"]].astype(str).itertuples(index=False, name=None))


@settings(max_examples=150, deadline=None)
@given(parser=st.sampled_from(sorted(PARSERS)), seed=st.integers(0, 2**32 - 1), damaged=st.integers(1, 6),
       garbage=st.booleans())
def test_each_parser_keeps_every_good_line_and_counts_the_damaged_ones(parser, seed, damaged, garbage):
    good, damage, parse = PARSERS[parser]
    lines = good.splitlines()
    rng = random.Random(seed)
    inserted = []
    for _ in range(damaged):  # a damaged copy of a real line (or noise), at a random place
        at = rng.randint(0, len(lines))
        broken = GARBAGE if garbage and parser != "applog" else damage(rng.choice([ln for ln in lines if ln.strip() and not ln.startswith("#")]))
        lines.insert(at, broken)
        inserted = [i + (i >= at) for i in inserted] + [at]
    report = LineReport()
    rows = parse("\n".join(lines), report)
    assert _events(rows) == _events(parse(good, LineReport()))  # every good line kept, nothing else
    assert (report.bad, report.first_bad) == (damaged, min(inserted) + 1)
    assert report.warnings("f") == [f"f: skipped {damaged} damaged line{'s' if damaged > 1 else ''} "
                                     f"(first: line {min(inserted) + 1}); kept every other line"]


def test_the_kernel_trace_says_when_tracefs_lost_events():
    report = LineReport()
    rows = kernel.parse(KERNEL_SEED + "CPU:1 [LOST 17 EVENTS]\n", ParseContext(trace_to_realtime_ns=KERNEL_SEED_OFFSET_NS, lines=report))
    assert len(rows) and report.bad == 0
    assert report.notes == ["the trace lost 17 events (tracefs ring buffer full): the kernel events may have gaps"]


@pytest.fixture
def damaged_bundle(tmp_path):
    """A copy of a sample bundle to break, and load() of the intact one to compare with."""
    copy = tmp_path / BUNDLE.name
    shutil.copytree(BUNDLE, copy)
    return copy, load(BUNDLE)


def _by_source(timeline) -> dict[str, list[tuple]]:
    events = timeline.events
    return {source: _events(events[events["source"] == source]) for source in ("packet", "syscall", "kernel", "app")}


@pytest.mark.parametrize("name", ["strace.txt", "kernel.txt", "app.jsonl"])
def test_a_side_file_of_noise_is_left_out_with_a_warning_and_the_rest_stays(damaged_bundle, tmp_path, name):
    bundle, _ = damaged_bundle
    without = tmp_path / "without"
    shutil.copytree(bundle, without)
    (without / name).unlink()
    (bundle / name).write_bytes(random.Random(name).randbytes(4000).replace(b"#", b"x"))
    timeline = load(bundle)
    assert _by_source(timeline) == _by_source(load(without))  # as if the file were not there, and said
    [warning] = [w for w in timeline.warnings if name in w]
    assert warning.startswith(f"{bundle / name}: ") and " none of the " in warning
    assert warning.endswith("left out of the timeline (the other sources are kept)")


def test_damaged_lines_in_every_side_file_are_counted_and_every_good_line_kept(damaged_bundle):
    bundle, intact = damaged_bundle
    for name in ("strace.txt", "kernel.txt", "app.jsonl"):
        lines = (bundle / name).read_text().splitlines()
        lines.insert(len(lines) // 2, GARBAGE)
        (bundle / name).write_text("\n".join(lines) + "\n" + lines[-1][:25])  # and the last line cut short
    timeline = load(bundle)
    assert _by_source(timeline) == _by_source(intact)
    counted = [w for w in timeline.warnings if "damaged lines" in w]
    assert len(counted) == 3 and all(": skipped 2 damaged lines (first: line " in w for w in counted)


def test_a_side_file_that_cannot_be_read_is_left_out(damaged_bundle):
    bundle, intact = damaged_bundle
    (bundle / "strace.txt").unlink()
    (bundle / "strace.txt").symlink_to("/proc/self/mem")  # a real I/O error on read
    timeline = load(bundle, Read(logs={"strace": bundle / "strace.txt"}))  # named: a bundle's empty-looking file is not picked
    assert "strace" not in timeline.sources and _by_source(timeline)["app"] == _by_source(intact)["app"]
    assert any("cannot read the strace file (Input/output error)" in w for w in timeline.warnings)


META_DAMAGE = {
    "binary": (b"\x89PNG\r\n\x1a\n\xff\xfe" + bytes(range(256)), "unreadable meta.json"),
    "a list": (b"[1, 2, 3]", "meta.json holds list, not a JSON object"),
    "clock as text": (json.dumps({"clocks": {"trace_to_realtime_ns": "soon"}}).encode(), "is 'soon': not an integer"),
    "clock as fraction": (json.dumps({"clocks": {"trace_to_realtime_ns": 1.5}}).encode(), "is 1.5: not an integer"),
    "clock past int64": (json.dumps({"clocks": {"trace_to_realtime_ns": 10**30}}).encode(), "not an integer number"),
    "clocks as a list": (json.dumps({"clocks": [1], "server": "go", "scenario": [3]}).encode(), "clocks is list"),
}


@pytest.mark.parametrize("damage", sorted(META_DAMAGE))
def test_a_damaged_meta_json_is_said_and_the_bundle_still_read(damaged_bundle, damage):
    bundle, intact = damaged_bundle
    content, words = META_DAMAGE[damage]
    (bundle / "meta.json").write_bytes(content)
    timeline = load(bundle)
    assert any(words in w for w in timeline.warnings), timeline.warnings
    expected = _by_source(intact)
    expected["kernel"] = []  # no clock offset: the kernel trace cannot be placed, and says so
    assert _by_source(timeline) == expected
    assert any(w.startswith(f"{bundle / 'kernel.txt'}: ") and "left out" in w for w in timeline.warnings)
    assert [d.verdict for d in timeline.diagnose()]  # the diagnosis reads what is left of meta.json


def test_a_bundles_server_log_is_read_in_utc_and_any_other_log_says_which_zone_it_assumed(damaged_bundle, tmp_path):
    bundle, _ = damaged_bundle
    in_bundle = load(bundle, Read(logs={"applog": bundle / "server.log"}))
    elsewhere = tmp_path / "server.log"
    shutil.copy(bundle / "server.log", elsewhere)
    outside = load(bundle, Read(logs={"applog": elsewhere}))
    paris = load(bundle, Read(logs={"applog": elsewhere}, tz="Europe/Paris"))

    def logged(timeline):
        return timeline.events.loc[timeline.events["detail"].astype(str).str.contains("broken pipe$"), "ts_ns"].tolist()

    assert not [w for w in in_bundle.warnings if "zone" in w]
    assert [w for w in outside.warnings if "read as UTC" in w and "--tz" in w]
    assert logged(in_bundle) == logged(outside) and logged(paris)[0] == logged(in_bundle)[0] - 3600 * 10**9
    # the Go server logs the EPIPE just after the failing write: within a millisecond, in UTC
    write_error = in_bundle.events[(in_bundle.events["source"] == "syscall") & (in_bundle.events["errno"] == "EPIPE")]
    assert 0 <= logged(in_bundle)[0] - int(write_error["ts_ns"].iloc[0]) < 10**6
    with pytest.raises(ClockError, match="no such time zone"):
        load(bundle, Read(logs={"applog": elsewhere}, tz="Mars/Olympus_Mons"))


# A bundle's followed logs (`abortscope record --applog`) whose zone or arrival times are damaged are still
# read: what is wrong is said, with what to do, and the analysis goes on.

FOLLOWED_PYTHON_LOG = """\
2026-12-04 23:50:01,200 ERROR write failed
Traceback (most recent call last):
BrokenPipeError: [Errno 32] Broken pipe
"""


def _followed_bundle(tmp_path, entry: dict, arrival: str):
    root = tmp_path / "bundle"
    root.mkdir()
    shutil.copy(SAMPLES / "go-curl-8061" / "capture.pcap", root / "capture.pcap")
    (root / "applog1.log").write_text(FOLLOWED_PYTHON_LOG)
    (root / "applog1.log.arrival").write_text(arrival)
    (root / "meta.json").write_text(json.dumps({"applogs": [{"file": "applog1.log", **entry}]}))
    return root


def test_a_zone_the_recording_named_that_is_none_is_said_and_read_as_utc(tmp_path):
    timeline = load(_followed_bundle(tmp_path, {"format": "python", "tz": "Mars/Olympus_Mons"}, "1\n2\n3\n"))
    said = [w for w in timeline.warnings if "Mars/Olympus_Mons" in w]
    assert said and "read as UTC" in said[0] and "--tz ZONE" in said[0]
    assert len(timeline.flows) == 1  # the capture is analyzed all the same


def test_damaged_arrival_times_are_said(tmp_path):
    timeline = load(_followed_bundle(tmp_path, {"format": "python", "tz": "UTC"}, "1\nnot a time\n"))
    assert any("applog1.log.arrival: damaged" in w for w in timeline.warnings)
