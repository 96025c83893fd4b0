import json

import pytest

from analysis.events.context import ParseContext
from analysis import errnos
from analysis.errors import EventParseError
from analysis.events import app_jsonl, applog, jsonl
from tests.analysis.helpers import validate_source as validate
from tests.analysis.helpers import SEED, SEED_FLOW, flows_table
from tests.analysis.lines import GO_LOG

APP_LINE = ('{"actor":"server","asked":8061,"detail":null,"errno":null,"error":"write tcp 127.0.0.1:3917-\\u003e127.0.0.1:51850: '
            'write: broken pipe","event":"write_error","impl":"go","local":null,"pid":7201,"remote":"127.0.0.1:51850",'
            '"ts_ns":1795472646650904206,"written":8061}')


def test_go_log_lines_with_and_without_microseconds_in_a_given_zone():
    flows = flows_table(SEED, ("[::1]:5555", "[::1]:3000", 1795472640000000000))
    rows = applog.parse(GO_LOG, ParseContext(flows=flows, tz="UTC"))
    validate(rows)
    assert rows["ts_ns"].tolist() == [1795472646_650942000, 1795472647_000000000, 1795472648_000000000]
    assert rows["kind"].astype(str).tolist() == ["write_error", "read_error", "log"]
    assert rows["errno"].fillna("").tolist() == ["EPIPE", "ECONNRESET", ""]
    assert rows["flow"].tolist() == [SEED_FLOW, "[::1]:5555>[::1]:3000", ""]
    assert rows["actor"].astype(str).tolist()[:2] == ["server", "server"]


def test_go_log_zone_shifts_the_time():
    paris = applog.parse(GO_LOG, ParseContext(tz="Europe/Paris"))["ts_ns"].iloc[0]
    utc = applog.parse(GO_LOG, ParseContext(tz="UTC"))["ts_ns"].iloc[0]
    assert utc - paris == 3600 * 10**9  # November: Paris is UTC+1


def test_app_jsonl_line_from_the_go_server():
    rows = app_jsonl.parse(APP_LINE + "\nnot json\n", ParseContext(flows=flows_table(SEED)))
    validate(rows)
    row = rows.iloc[0]
    assert (row["ts_ns"], row["kind"], row["errno"], row["len"], row["flow"], row["actor"]) == (
        1795472646650904206, "write_error", "EPIPE", 8061, SEED_FLOW, "server")


def test_generic_jsonl_with_iso_and_epoch_times():
    text = "\n".join(json.dumps(o) for o in (
        {"time": "2026-11-23T22:24:06.5Z", "msg": "client gave up", "remote": "127.0.0.1:51850"},
        {"time": 1795472646.25, "event": "abort"},
    ))
    rows = jsonl.parse(text, ParseContext(flows=flows_table(SEED)))
    assert rows["ts_ns"].tolist() == [1795472646_500000000, 1795472646_250000000]
    assert rows["kind"].astype(str).tolist() == ["log", "abort"]
    assert rows["flow"].tolist() == [SEED_FLOW, ""]
    with pytest.raises(EventParseError, match="timestamp"):
        jsonl.parse('{"a": 1}', ParseContext())


def test_errno_table_round_trips_and_reads_messages():
    assert errnos.name_of(32) == "EPIPE" and errnos.number_of("ECONNRESET") == 104
    assert errnos.describe("EPIPE") == "Broken pipe"
    assert errnos.from_message("write: broken pipe") == "EPIPE"
    assert errnos.from_message("read: connection reset by peer") == "ECONNRESET"
    assert errnos.from_message("BrokenPipeError: [Errno 32] Broken pipe") == "EPIPE"
    assert errnos.from_message("all good") is None
