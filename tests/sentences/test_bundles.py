"""Every sentence the analyzer says about the sample bundles (with and without their side files) and the public
corpus, checked against the raw files: none may be false."""

from __future__ import annotations

import pytest

import analysis
from analysis.errors import AbortscopeError
from capture.samples import SAMPLES as SAMPLE_TABLE
from tests import conftest
from tests.conftest import SAMPLES, corpus_files
from tests.sentences.registry import Tally, check_bundle

#: the oracle does not split connections by VLAN (tshark's fields give no stack): it cannot tell these apart
VLAN_SPLIT = {"zeek__vlan-collisions.pcap"}


@pytest.fixture(autouse=True)
def _tshark():
    """The oracle reads the packets with tshark."""
    conftest.require_tools("tshark")


def _checked(path) -> Tally:
    try:
        timeline = analysis.load(path)
    except AbortscopeError:  # the damaged files the reader refuses (tested with the reader)
        return Tally()
    return check_bundle(path, timeline.diagnose())


@pytest.mark.parametrize("name", list(SAMPLE_TABLE))
def test_every_sentence_about_a_sample_bundle_is_true(name):
    bundle = SAMPLES / name
    if not (bundle / "meta.json").is_file():
        pytest.skip(f"sample bundle {bundle} not generated: run `make samples`")
    whole, bare = _checked(bundle), _checked(bundle / "capture.pcap")
    assert whole.false + bare.false == []
    assert whole.sentences and bare.sentences


def test_every_sentence_about_the_public_corpus_is_true(corpus):
    total = Tally()
    for path in corpus_files():
        if path.name not in VLAN_SPLIT:
            total.add(_checked(path))
    assert total.false == []
    assert total.connections > 60 and total.clauses > 300
