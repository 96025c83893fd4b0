"""Generated edge cases (edge_cases.py), read by every engine and held to tshark 4.0, the oracle (issue 13).

Each case gives tshark's TCP rows, frame numbers included, or the documented
warning plus the rows the rule keeps; never a traceback. The oracle is
tshark's PDML (VLAN ids in the order of the tags, whatever the tag type),
run here through subprocess: analysis code itself never runs tshark.
"""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pandas as pd
import pytest

from analysis.pcap import fast, read_packets, window
from tests.conftest import require_tools

from .conftest import use_python_twins
from .edge_cases import CASES, EdgeCase, second_section_other_order

ENGINES = ["fast", "fast-python", "scapy", "pyshark"]
COLUMNS = ["frame", "ts_ns", "iface", "vlan", "src", "dst", "sport", "dport", "flags", "seq_raw", "ack_raw", "len", "win"]
#: PDML field -> packet table column (the first occurrence in the packet)
ORACLE_FIELDS = {
    "frame.number": "frame", "frame.time_epoch": "ts_ns", "frame.interface_id": "iface", "ip.src": "src", "ip.dst": "dst",
    "ipv6.src": "src", "ipv6.dst": "dst", "tcp.srcport": "sport", "tcp.dstport": "dport", "tcp.flags": "flags",
    "tcp.seq_raw": "seq_raw", "tcp.ack_raw": "ack_raw", "tcp.len": "len", "tcp.window_size_value": "win",
}
VLAN_FIELDS = {"vlan.id", "ieee8021ad.id", "ieee8021ad.svid", "ieee8021ad.cvid"}


def _epoch_ns(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    seconds, _, fraction = text.lstrip("-").partition(".")
    return sign * (int(seconds) * 10**9 + int((fraction + "0" * 9)[:9]))


def _oracle_row(packet: ElementTree.Element) -> dict:
    row: dict = {"ts_ns": 0, "iface": 0}  # a Simple Packet Block has no time; a pcap file no interface
    vlans = []
    for field in packet.iter("field"):
        name, show = field.get("name"), field.get("show")
        if name in VLAN_FIELDS:
            vlans.append((int(field.get("pos")), show))
        elif name in ORACLE_FIELDS and ORACLE_FIELDS[name] not in row or name in ("frame.time_epoch", "frame.interface_id"):
            row[ORACLE_FIELDS[name]] = show
    row["vlan"] = ";".join(vid for _, vid in sorted(vlans))
    row["ts_ns"] = _epoch_ns(row["ts_ns"]) if isinstance(row["ts_ns"], str) else 0
    row["flags"] = int(row["flags"], 16)
    for name in ("frame", "iface", "sport", "dport", "seq_raw", "ack_raw", "len", "win"):
        row[name] = int(row[name])
    return row


def tshark_tcp_rows(path: Path, unlisted: tuple[int, ...] = ()) -> pd.DataFrame:
    """tshark's TCP frames (display filter tcp, no reassembly), without the frames in ``unlisted``."""
    out = subprocess.run(["tshark", "-r", str(path), "-n", "-T", "pdml", "-Y", "tcp", "-o", "ip.defragment:FALSE",
                          "-o", "tcp.analyze_sequence_numbers:FALSE"], capture_output=True, text=True, timeout=60).stdout
    packets = ElementTree.fromstring(out).findall("packet") if out.strip() else []
    keep = [p for p in packets if int(next(f.get("show") for f in p.iter("field") if f.get("name") == "frame.number"))
            not in unlisted]
    return pd.DataFrame([_oracle_row(p) for p in keep], columns=COLUMNS)


def read(path: Path, engine: str, monkeypatch) -> tuple[pd.DataFrame, object]:
    if engine == "fast-python":
        use_python_twins(monkeypatch)
    try:
        return read_packets(path, engine=engine.removesuffix("-python"))
    finally:
        monkeypatch.undo()


def _same_rows(ours: pd.DataFrame, theirs: pd.DataFrame, columns: list[str]) -> None:
    pd.testing.assert_frame_equal(ours[columns].astype(object).reset_index(drop=True),
                                  theirs[columns].astype(object).reset_index(drop=True), check_dtype=False)


def _check_warnings(case: EdgeCase, engine: str, warnings: list[str]) -> None:
    if case.warning is None:
        assert warnings == []
        return
    stops = not case.unlisted  # damage: tshark stops there too, and pyshark says it in tshark's words
    assert any(case.warning in w or (engine == "pyshark" and stops and w.startswith("tshark stopped after"))
               for w in warnings), warnings


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_edge_case_reads_as_tshark_reads_it(tmp_path, monkeypatch, case, engine):
    require_tools("tshark")
    path = tmp_path / f"{case.name}{case.suffix}"
    path.write_bytes(case.content)
    table, report = read(path, engine, monkeypatch)
    oracle = tshark_tcp_rows(path, case.unlisted)
    if engine == "pyshark" and case.pyshark_cannot:  # says so in one line, and keeps the rows before
        [warning] = [w for w in report.warnings if w.startswith("the pyshark engine cannot read frame")]
        first_unread = int(warning.split("frame ")[1].split()[0])
        oracle = oracle[oracle["frame"] < first_unread]
    else:
        _check_warnings(case, engine, report.warnings)
    exact_ts = case.exact_ts if engine != "pyshark" else None  # pyshark's times are tshark's, wrapped or not
    columns = [c for c in COLUMNS if c != "ts_ns" or exact_ts is None]
    _same_rows(table, oracle, columns)
    if exact_ts is not None:  # tshark's own arithmetic wraps: ours is floor(ticks * 1e9 / ticks per second)
        assert table["ts_ns"].tolist() == [ns for i, ns in enumerate(exact_ts) if i + 1 not in case.unlisted]


@pytest.mark.parametrize("mapped", [False, True], ids=["copied", "mapped"])
def test_a_second_section_in_the_other_byte_order_at_every_window_edge(tmp_path, monkeypatch, mapped):
    """The second section header falls at every offset from every window edge (among them exactly 8 bytes
    before one, where its length was read in the old byte order and a valid file was cut short)."""
    require_tools("tshark")
    path = tmp_path / "two-sections.pcapng"
    path.write_bytes(second_section_other_order())
    oracle = tshark_tcp_rows(path)
    assert len(oracle) == 40
    monkeypatch.setattr(window, "MAP_FILES", mapped)
    for chunk_bytes in range(200, 2000, 4):
        table, report = fast.read(path, chunk_bytes=chunk_bytes)
        assert report.warnings == [], (chunk_bytes, report.warnings)
        _same_rows(table, oracle, COLUMNS)
