"""The event-source registry drives loading: a new log format is one module plus one registry entry."""

from __future__ import annotations

import types

import pandas as pd

import analysis
from analysis import events
from analysis.events import SOURCES, EventSource, ParseContext
from analysis.events._tie import tie
from analysis.schema import EventKind, Source, conform, validate
from tests.analysis.bundles import bundle


def _toy_parse(text: str, ctx: ParseContext) -> pd.DataFrame:
    """A toy log: `<ts_ns> <local> <remote> <message>` per line."""
    parts = [line.split(" ", 3) for line in text.splitlines() if line.strip()]
    rows = pd.DataFrame(parts, columns=["ts_ns", "local", "remote", "detail"]).astype({"ts_ns": "int64"})
    rows["flow"], rows["actor"] = tie(rows["ts_ns"].to_numpy(), rows["local"], rows["remote"], ctx.flows)
    return conform(rows.assign(source=Source.APP.value, kind=EventKind.LOG.value))


def test_a_new_source_in_the_registry_is_read_by_load_with_no_other_change(monkeypatch, tmp_path):
    path = bundle("go-curl-8061")
    flow = analysis.load(path).connections
    client, server = flow["client"].iloc[0], flow["server"].iloc[0]
    toy = types.ModuleType("toy")  # "one new module"
    toy.parse = _toy_parse
    log = tmp_path / "toy.log"
    log.write_text(f"{int(flow['first_ts_ns'].iloc[0]) + 5} {server} {client} toy says hello\n")
    monkeypatch.setitem(SOURCES, "toy", EventSource("toy", Source.APP, toy.parse, "toy lines", "toy log"))  # "one line"

    timeline = analysis.load(path, analysis.Read(logs={"toy": log}))
    assert timeline.sources[-1] == "toy"
    rows = timeline.other_events[timeline.other_events["detail"] == "toy says hello"]
    assert len(rows) == 1 and rows["flow"].iloc[0] == flow["flow"].iloc[0] and rows["actor"].iloc[0] == "server"
    assert rows["conn"].iloc[0] == 0 and rows["t_rel"].iloc[0] == 5e-9
    validate(timeline.events)


def test_every_source_parses_through_the_one_signature():
    for source in SOURCES.values():
        assert source.parse.__name__ == "parse" and source.parse.__module__.startswith("analysis.events.")
        rows = source.parse("", ParseContext())
        validate(rows.assign(t_rel=rows["t_rel"].fillna(0.0)))
    assert events.PACKETS not in SOURCES  # the packets come from the capture, not from text


def test_an_unknown_source_name_is_one_line(tmp_path):
    import pytest

    from analysis.errors import EventParseError

    with pytest.raises(EventParseError, match="no event source named caddy"):
        analysis.load(bundle("go-curl-8061"), analysis.Read(logs={"caddy": tmp_path / "x"}))
