"""Fixtures for the capture-reader tests: write literal bytes to a file, read them with each engine."""

from __future__ import annotations

import shutil

import pytest

from analysis.pcap import read_packets

def use_python_twins(monkeypatch) -> None:
    """The fast engine without its C module: each of the C module's functions replaced by its Python/numpy twin."""
    from analysis.pcap import addresses, decode, walk

    monkeypatch.setattr(walk, "_walk_c", None)
    monkeypatch.setattr(walk, "_walk_pcap_c", None)
    monkeypatch.setattr(decode, "_decode_tcp_c", None)
    monkeypatch.setattr(addresses, "_code_addresses_c", None)


#: Engines cheap enough to run on every literal-bytes test (pyshark has its own, smaller, tests).
#: "fast-python" is the fast engine without its C module (csrc/): the fallback, and the reference.
CHEAP_ENGINES = ["fast", "fast-python", "scapy"]


@pytest.fixture(params=CHEAP_ENGINES)
def engine(request) -> str:
    return request.param


@pytest.fixture
def read_bytes(tmp_path, engine, monkeypatch):
    """read_bytes(b, suffix) -> (DataFrame, ReadReport) through the engine under test."""
    if engine == "fast-python":
        use_python_twins(monkeypatch)

    def read(content: bytes, suffix: str = ".pcap"):
        path = tmp_path / f"capture{suffix}"
        path.write_bytes(content)
        return read_packets(path, engine=engine.removesuffix("-python"))

    return read


def have_tshark() -> bool:
    return shutil.which("tshark") is not None
