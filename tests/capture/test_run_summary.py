"""The run summary is data: rendered for display, and what `make samples` checks each sample's story against."""

from __future__ import annotations

import json

import pytest

from analysis.bundle import BundlePaths
from capture.run_summary import summarize
from capture.samples import SAMPLES, mismatches
from capture.scenario import RunResult
from tests.conftest import SAMPLES as SAMPLE_DIR


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_sample_shows_its_story_read_from_the_summary_data_and_renders_the_lines_its_run_stored(name):
    bundle = SAMPLE_DIR / name
    meta = json.loads((bundle / "meta.json").read_text())
    summary = summarize(BundlePaths(bundle), meta["server"]["port"], meta["recorders"])
    # the app and syscall lines as the run stored them (go-curl-any's wire line was stored by a reader that did
    # not know SLL2 yet: "no RST in 0 packets"; its story, checked below, needs the RST the capture holds)
    assert summary.lines()[0::2] == meta["summary"][0::2]
    assert mismatches(SAMPLES[name].expect, RunResult(bundle, meta, summary)) == []
    if SAMPLES[name].expect.failing_write:
        assert summary.failing_errno == SAMPLES[name].expect.failing_write


def test_a_sample_that_misses_its_story_says_which_fact_differs():
    bundle = SAMPLE_DIR / "go-half-close"
    meta = json.loads((bundle / "meta.json").read_text())
    summary = summarize(BundlePaths(bundle), meta["server"]["port"], meta["recorders"])
    assert mismatches(SAMPLES["go-curl-8061"].expect, RunResult(bundle, meta, summary)) == [
        "app_error: wanted True, got False", "failing_write: wanted 'EPIPE', got ''", "rst: wanted True, got False"]
