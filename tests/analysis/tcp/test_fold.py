"""The connection pass a batch at a time equals the whole-table pass (tests/analysis/tcp/reference), exactly.

Every flows column (ids, roles, counts, close facts, history, conn_state) and
every annotated packet column is compared, on every sample and corpus capture
in several batchings, at every cut point of the small ones, on hypothesis's
packet tables (few endpoints, VLAN stacks, flags and sequence numbers, so that
reuse, VLAN splits, late roles and ISNs happen often), and on tables built to
make each kind of hazard happen (the pass then runs again, and is exact).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.errors import AbortscopeError
from analysis.pcap import read_packets
from analysis.pcap.table import PACKET_COLUMNS
from analysis.stream.outputs import Flows, KeptPackets
from analysis.stream.passes import run
from analysis.tcp import build_flows
from tests.analysis.synthetic import packet_table
from tests.analysis.tcp import reference
from tests.conftest import SAMPLES, corpus_files

NEW_COLUMNS = ["first_file", "last_file"]  # the flows columns the whole-table code did not have


def folded(table: pd.DataFrame, cuts) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """(annotated packets, flows, passes) of ``table`` folded in the batches between ``cuts``."""
    bounds = sorted({0, len(table), *cuts})
    flows, kept = Flows(), KeptPackets()
    result = run(lambda attempt: (table.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:])), [flows, kept])
    packets = kept.table(result.categories())
    if packets is None:  # no packet: what one empty batch gives
        packets, flows_table = build_flows(table.iloc[:0])
        return packets, flows_table, result.passes
    return packets, flows.table, result.passes


def assert_equal_to_reference(table: pd.DataFrame, cuts) -> int:
    expected_packets, expected_flows = reference.build_flows(table)
    packets, flows, passes = folded(table, cuts)
    pd.testing.assert_frame_equal(flows.drop(columns=NEW_COLUMNS), expected_flows)
    pd.testing.assert_frame_equal(packets, expected_packets)
    return passes


def _captures() -> list:
    paths = sorted(SAMPLES.glob("*/capture.pcap")) + corpus_files()
    tables = []
    for path in paths:
        try:
            tables.append((path.name if path.name != "capture.pcap" else path.parent.name, read_packets(path)[0]))
        except AbortscopeError:  # the malformed corpus files: refused (tested in tests/analysis/pcap)
            continue
    return tables


CAPTURES = _captures()


@pytest.mark.parametrize("name,table", CAPTURES, ids=[name for name, _ in CAPTURES])
def test_every_capture_folds_to_the_whole_table_result_in_any_number_of_batches(name, table):
    n = len(table)
    for batches in (1, 2, 3, 7, max(n // 3, 1)):
        assert_equal_to_reference(table, [n * k // batches for k in range(1, batches)])


SMALL = [(name, table) for name, table in CAPTURES if 0 < len(table) <= 60]


@pytest.mark.parametrize("name,table", SMALL, ids=[name for name, _ in SMALL])
def test_a_cut_at_every_packet_boundary_changes_nothing(name, table):
    for cut in range(1, len(table)):
        assert_equal_to_reference(table, [cut])
    assert_equal_to_reference(table, range(1, len(table)))  # every packet a batch of its own


def test_many_connections_in_few_batches():
    table = packet_table(60_000, packets_per_conn=12, seed=3)
    assert assert_equal_to_reference(table, [7_001, 30_000, 30_001, 59_999]) == 1


def test_more_addresses_than_pack_directly_renumbers_the_pairs_mid_stream():
    """Past 32,768 addresses two endpoints no longer pack into one int64 as they are (analysis.tcp.identity)."""
    n = 40_000
    table = packet_table(2 * n, packets_per_conn=2, seed=4)
    table["src"] = np.where(np.arange(2 * n) % 2 == 0, [f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(2 * n)],
                            table["src"])
    table["dst"] = np.where(np.arange(2 * n) % 2 == 1, table["src"].shift(1).fillna("10.9.9.9"), table["dst"])
    table = table.astype({"src": "string", "dst": "string"})
    assert_equal_to_reference(table, [10_000, 70_000])


# -- hypothesis's tables ------------------------------------------------------------------------------------------

HOSTS = ("10.0.0.1", "10.0.0.2", "::ffff:10.0.0.1", "fe80::1")  # the first and third print alike (rule 5)
PORTS = (80, 40000, 40001)
VLANS = ("", "", "10", "20", "10;20")
FLAGS = (0x02, 0x12, 0x10, 0x18, 0x11, 0x19, 0x04, 0x14, 0x03, 0x01, 0x00)
SEQS = (100, 101, 200, 5000, 2**32 - 10, 7)
ACKS = (0, 101, 201, 5001, 9000, 2**32 - 5)

packet_row = st.tuples(st.integers(0, len(HOSTS) - 1), st.integers(0, len(HOSTS) - 1), st.integers(0, len(PORTS) - 1),
                       st.integers(0, len(PORTS) - 1), st.sampled_from(VLANS), st.sampled_from(FLAGS),
                       st.sampled_from(SEQS), st.integers(0, 3000), st.sampled_from(ACKS),
                       st.sampled_from([0, 0, 1, 100, 1000]), st.sampled_from([0, 512]))


def table_of(rows) -> pd.DataFrame:
    n = len(rows)
    frame = pd.DataFrame(rows, columns=["s", "d", "sp", "dp", "vlan", "flags", "seq", "step", "ack", "len", "win"])
    return pd.DataFrame({
        "frame": np.arange(1, n + 1), "ts_ns": 10**18 + np.arange(n) * 1000, "iface": 0, "vlan": frame["vlan"],
        "ip_version": 4, "src": np.array(HOSTS, dtype=object)[frame["s"]], "dst": np.array(HOSTS, dtype=object)[frame["d"]],
        "sport": np.array(PORTS)[frame["sp"]], "dport": np.array(PORTS)[frame["dp"]], "flags": frame["flags"],
        "seq_raw": (frame["seq"] + frame["step"]) % 2**32, "ack_raw": frame["ack"], "len": frame["len"],
        "win": frame["win"], "truncated": False,
    }).astype({k: v[0] for k, v in PACKET_COLUMNS.items()})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(packet_row, min_size=1, max_size=50), st.lists(st.integers(0, 50), max_size=6))
def test_hypothesis_tables_in_any_batches_fold_to_the_whole_table_result(rows, cuts):
    table = table_of(rows)
    assert_equal_to_reference(table, [c for c in cuts if c <= len(table)])


# -- each hazard, on purpose --------------------------------------------------------------------------------------

C, S = ("10.0.0.1", 40000), ("10.0.0.2", 80)


def ladder(*packets, vlan=None) -> pd.DataFrame:
    """(sender, flags, seq, ack, len) per packet; sender is C or S."""
    rows = []
    for i, (sender, flags, seq, ack, length) in enumerate(packets):
        peer = S if sender == C else C
        rows.append(dict(frame=i + 1, ts_ns=1_000_000 * (i + 1), iface=0, vlan=(vlan or {}).get(i, ""), ip_version=4,
                         src=sender[0], dst=peer[0], sport=sender[1], dport=peer[1], flags=flags, seq_raw=seq,
                         ack_raw=ack, len=length, win=1000, truncated=False))
    return pd.DataFrame(rows).astype({k: v[0] for k, v in PACKET_COLUMNS.items()})


def test_a_pair_split_by_vlan_after_its_directions_rode_different_stacks_is_run_again():
    # c->s on VLAN 10, s->c on VLAN 20: one connection... until c->s also shows VLAN 30: three keys from the start
    table = ladder((C, 0x18, 1, 1, 10), (S, 0x10, 1, 11, 0), (C, 0x10, 11, 1, 0), (S, 0x18, 1, 11, 5),
                   vlan={0: "10", 1: "20", 2: "30", 3: "20"})
    assert assert_equal_to_reference(table, [2]) == 2
    assert assert_equal_to_reference(table, []) == 1  # one batch: nothing to take back


def test_an_isn_learnt_after_the_packets_that_needed_it_is_run_again():
    # data first (raw seq), the client's SYN retransmitted in a later batch: every relative number changes
    table = ladder((C, 0x18, 1000, 1, 10), (S, 0x10, 1, 1010, 0), (C, 0x02, 999, 0, 0), (C, 0x18, 1010, 1, 10))
    assert assert_equal_to_reference(table, [2]) == 2


def test_roles_that_change_in_a_later_batch_are_run_again():
    # mid-stream packets: the server is guessed (port 80); a later SYN says the client is the other side
    table = ladder((S, 0x18, 1, 1, 10), (C, 0x10, 1, 11, 0), (S, 0x02, 5, 0, 0))
    assert assert_equal_to_reference(table, [2]) == 2


def test_a_half_close_outgrown_by_later_payload_is_run_again():
    # after the client's FIN the server sends 100 bytes (relative end 101); the client acknowledges 150, then 400;
    # in the next batch more late data ends at 300: the half-close is the first acknowledgement covering all the
    # late payload, the one of 400, seen in the batch before
    table = ladder((C, 0x02, 100, 0, 0), (S, 0x12, 500, 101, 0), (C, 0x11, 101, 501, 0),
                   (S, 0x18, 501, 102, 100), (C, 0x10, 102, 650, 0), (C, 0x10, 102, 900, 0),
                   (S, 0x18, 701, 102, 99))
    assert assert_equal_to_reference(table, [6]) == 2
    assert folded(table, [6])[1]["half_close_frame"].tolist() == [6]
