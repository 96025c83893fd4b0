"""The run summary is data, a view of the run's one loaded Timeline: rendered for display, stored in meta.json, and
what `make samples` checks each sample's story against."""

from __future__ import annotations

import json

import pytest

from analysis import load
from analysis.bundle import BundlePaths
from capture.run_summary import FirstRst, RunSummary, lines_of, summarize
from capture.samples import SAMPLES, mismatches
from capture.scenario import RunResult
from tests.conftest import SAMPLES as SAMPLE_DIR


def _summary(name: str) -> tuple[dict, RunSummary]:
    bundle = SAMPLE_DIR / name
    meta = json.loads((bundle / "meta.json").read_text())
    return meta, summarize(load(bundle), BundlePaths(bundle).app, meta["server"]["port"], meta["recorders"])


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_sample_shows_its_story_read_from_the_summary_data_and_renders_the_lines_its_run_stored(name):
    meta, summary = _summary(name)
    # the app and syscall lines as the run stored them (go-curl-any's wire line was stored by a reader that did
    # not know SLL2 yet: "no RST in 0 packets"; its story, checked below, needs the RST the capture holds)
    assert summary.lines()[0::2] == meta["summary"][0::2] == lines_of(meta)[0::2]
    if name != "go-curl-any":
        assert summary.lines()[1] == meta["summary"][1]
    assert mismatches(SAMPLES[name].expect, RunResult(SAMPLE_DIR / name, meta, summary)) == []
    if SAMPLES[name].expect.failing_write:
        assert summary.failing_errno == SAMPLES[name].expect.failing_write


def test_the_summary_is_stored_as_facts_per_layer_and_renders_the_same_lines_from_them():
    meta, summary = _summary("go-curl-8061")
    data = json.loads(json.dumps(summary.as_data()))  # as meta.json holds it
    assert data["app"]["error"].startswith("go: write tcp") and data["app"]["error"].endswith("broken pipe")
    assert data["wire"] == {"packets": 9, "truncated": False, "first_rst": {"by": "client", "frame": 9, "t_rel_s": 1.014707707}}
    assert data["syscall"]["errno"] == "EPIPE" and data["syscall"]["failing"].startswith("write(4<TCP:")
    assert RunSummary.from_data(data) == summary
    assert lines_of({"summary": data}) == summary.lines() == meta["summary"]
    assert summary.first_rst == FirstRst("client", 9, 1.014707707)


def test_a_layer_not_recorded_is_stored_as_why_and_said_so():
    meta, _ = _summary("go-curl-8061")
    recorders = {**meta["recorders"], "strace": {"ran": False, "why": "disabled (--no-strace)"}}
    bundle = SAMPLE_DIR / "go-curl-8061"
    summary = summarize(load(bundle), BundlePaths(bundle).app, meta["server"]["port"], recorders, read="a test")
    data = json.loads(json.dumps(summary.as_data()))
    assert data["syscall"] == {"not_recorded": "disabled (--no-strace)"} and data["read"] == "a test"
    assert lines_of({"summary": data})[2] == "syscall: not recorded: disabled (--no-strace)"
    assert lines_of({"summary": {"error": "no summary: boom"}}) == ["no summary: boom"]


def test_a_sample_that_misses_its_story_says_which_fact_differs():
    meta, summary = _summary("go-half-close")
    assert mismatches(SAMPLES["go-curl-8061"].expect, RunResult(SAMPLE_DIR / "go-half-close", meta, summary)) == [
        "app_error: wanted True, got False", "failing_write: wanted 'EPIPE', got ''", "rst: wanted True, got False"]
