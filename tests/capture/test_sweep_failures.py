"""Failed sweep probes are run again and never count as "no error"; a result its probes contradict is unstable.

The faults the issue saw: python-raw's handler thread crashed on getpeername()
(ENOTCONN, the client's RST came first) and a browser probe never connected;
both counted as "no error", and the sweep printed "always ... confirmed" while
its own largest probe showed no error.
"""

from __future__ import annotations

import json
from concurrent.futures import Future
from dataclasses import replace

import pytest

from capture.sweep.bisect import Outcome, Threshold, checked, search
from capture.sweep.facts import ProbeFacts, read_facts
from capture.sweep.matrix import SweepRow
from capture.sweep.pool import MAX_ATTEMPTS, Job, drive
from capture.sweep.probe import ProbeSpec
from capture.sweep.report import cell, explain
from tests.capture.sweep_literals import literal_bundle, run_search

CRASHED_HANDLER = """Exception in thread Thread-1 (serve):
Traceback (most recent call last):
  File "python_raw.py", line 79, in serve
OSError: [Errno 107] Transport endpoint is not connected
"""


@pytest.mark.parametrize(("fault", "says"), [
    ("crashed handler", "the server crashed: OSError: [Errno 107] Transport endpoint is not connected"),
    ("no request", "no request reached the server"),
    ("no packets", "no packets were captured"),
    ("handler never finished", "the server's handler never finished"),
])  # fmt: skip
def test_a_probe_that_cannot_tell_says_why_it_failed(tmp_path, fault, says):
    """The faults the issue saw: python-raw's handler thread crashed on getpeername (ENOTCONN), a browser probe
    that never connected (no request, no packets). Such a probe is failed, whatever its app error says."""
    bundle = literal_bundle(tmp_path / "b")
    events = [json.loads(line) for line in (bundle / "app.jsonl").read_text().splitlines()]
    if fault == "crashed handler":
        (bundle / "server.log").write_text(CRASHED_HANDLER)
    elif fault == "no request":
        events = [e for e in events if e["actor"] != "server"]
    elif fault == "no packets":
        (bundle / "capture.pcap").write_bytes((bundle / "capture.pcap").read_bytes()[:24])  # the header alone
    else:
        events = [e for e in events if e["event"] != "response"]
    if fault in ("no request", "handler never finished"):
        (bundle / "app.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    if fault == "no request":  # a server that saw no request logged no error either
        pass
    else:
        events.append({"actor": "server", "event": "request", "ts_ns": events[0]["ts_ns"] - 1})
        (bundle / "app.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    assert read_facts(bundle).failed == says


def test_the_seed_bundle_is_not_a_failed_probe(tmp_path):
    bundle = literal_bundle(tmp_path / "b")
    with open(bundle / "app.jsonl", "a") as log:
        log.write(json.dumps({"actor": "server", "event": "request", "ts_ns": 1}) + "\n")
    assert read_facts(bundle).failed is None


class ScriptedPool:
    """Probe answers from a script, in submission order per size: a pool without the harness (the driver is
    pure scheduling; the harness's own faults are the literal bundles above)."""

    def __init__(self, answers: dict[int, list[ProbeFacts]]) -> None:
        self.answers = {size: list(facts) for size, facts in answers.items()}
        self.asked: list[int] = []

    def submit(self, spec, size, out_dir):
        self.asked.append(size)
        future = Future()
        script = self.answers[size]
        future.set_result((script.pop(0) if len(script) > 1 else script[0]).as_dict())
        return future


def test_a_failed_probe_is_run_again_and_never_counted_as_no_error(tmp_path):
    crashed = ProbeFacts(size=9000, app_error=False, failed="the server crashed: OSError: [Errno 107] ...")
    pool = ScriptedPool({
        7000: [ProbeFacts(size=7000, app_error=False)],
        9000: [crashed, ProbeFacts(size=9000, app_error=True)],  # the first run at 9000 failed, the second worked
        **{n: [ProbeFacts(size=n, app_error=n >= 8061)] for n in range(7001, 9000)},
    })  # fmt: skip
    result = drive([Job("go | curl", ProbeSpec(), search(7000, 9000), tmp_path)], pool)["go | curl"]
    assert pool.asked.count(9000) == 2
    assert (result.outcome, result.threshold, result.confirmed) == (Outcome.THRESHOLD, 8061, True)
    assert all(p.failed is None for p in result.probes)


def test_a_probe_that_keeps_failing_ends_the_search_as_failed_with_the_reason(tmp_path):
    never = ProbeFacts(size=16384, app_error=False, failed="no request reached the server")
    pool = ScriptedPool({1: [ProbeFacts(size=1, app_error=True)], 16384: [never]})
    result = drive([Job("python | browser", ProbeSpec(), search(1, 16384), tmp_path)], pool)["python | browser"]
    assert pool.asked.count(16384) == MAX_ATTEMPTS
    assert result.outcome is Outcome.FAILED and result.label == "failed"
    row = SweepRow("python", "browser", ProbeSpec(), result)
    assert cell(row) == "failed: no request reached the server"


def test_always_is_never_reported_when_the_largest_probe_showed_no_error():
    """The issue's sweep printed "always ... confirmed" while its own largest probe showed no error."""
    result, _ = run_search(1, 16384, lambda n: n < 16384)
    assert result.outcome is Outcome.UNSTABLE and result.contradicted_by == (16384,)
    assert "always" not in result.label and not result.confirmed


def test_a_threshold_its_probes_contradict_is_unstable():
    """Rule 4 on any result: here a confirmed threshold at 8061 while a probe at 8500 had shown no error."""
    probes = tuple(ProbeFacts(size=n, app_error=e) for n, e in ((7000, False), (9000, True), (8500, False), (8060, False), (8061, True)))
    reached = Threshold(Outcome.THRESHOLD, 7000, 9000, threshold=8061, confirmed=True, probes=probes)
    result = checked(reached, lambda f: f.app_error)
    assert result.outcome is Outcome.UNSTABLE and result.contradicted_by == (8500,) and not result.confirmed
    assert "contradict" in " ".join(explain(SweepRow("go", "curl", ProbeSpec(), result)))
    agreeing = replace(reached, probes=tuple(p for p in probes if p.size != 8500))
    assert checked(agreeing, lambda f: f.app_error) == agreeing
