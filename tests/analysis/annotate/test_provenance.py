"""The capture's sha256 in the section header is hashed where the reader's window maps the file: every byte
once, across window edges; a file cut short while it is hashed gets the digest of what it then holds."""

from __future__ import annotations

import hashlib
import os

import pytest

import analysis.annotate.provenance as provenance
import analysis.pcap.window as window
from tests.conftest import SAMPLES


@pytest.fixture
def small_windows(monkeypatch):
    monkeypatch.setattr(window, "MAP_MIN_WINDOWS", 0)  # mapped however small the file
    monkeypatch.setattr(provenance, "CHUNK", 617)  # windows that end inside records and pages


def test_every_byte_is_hashed_once_across_the_windows(small_windows):
    capture = SAMPLES / "go-curl-8061" / "capture.pcap"
    assert os.path.getsize(capture) > 4 * provenance.CHUNK
    assert provenance.sha256_of(capture) == hashlib.sha256(capture.read_bytes()).hexdigest()


@pytest.mark.skipif(window.bus_guard is None, reason="the reader's C part is not built: files are not mapped")
def test_a_file_cut_short_while_hashed_gets_the_digest_of_what_it_holds(small_windows, tmp_path, monkeypatch):
    capture = tmp_path / "ring.pcap"
    capture.write_bytes((SAMPLES / "go-curl-8061" / "capture.pcap").read_bytes() * 4)
    refill, calls = window.MappedWindow.refill, []

    def cut_after_the_first(self):
        calls.append(self.base)
        if len(calls) == 2:  # another program truncates the file under the mapping (a tcpdump -W ring)
            os.truncate(capture, capture.stat().st_size // 3)
        refill(self)

    monkeypatch.setattr(window.MappedWindow, "refill", cut_after_the_first)
    assert provenance.sha256_of(capture) == hashlib.sha256(capture.read_bytes()).hexdigest()
    assert len(calls) >= 2
