"""Connection rules on hand-built packet tables (the ladder reads top to bottom)."""

import pandas as pd

from analysis.pcap.table import PACKET_COLUMNS
from analysis.tcp import build_flows

C, S = ("10.0.0.1", 40000), ("10.0.0.2", 80)


def table(*packets):
    """(sender, flags, seq, ack, len) per packet; sender is C or S."""
    rows = []
    for i, (sender, flags, seq, ack, length) in enumerate(packets):
        peer = S if sender == C else C
        rows.append(dict(frame=i + 1, ts_ns=1_000_000 * (i + 1), iface=0, vlan="", ip_version=4, src=sender[0],
                         dst=peer[0], sport=sender[1], dport=peer[1], flags=flags, seq_raw=seq, ack_raw=ack, len=length,
                         win=1000, truncated=False))
    return pd.DataFrame(rows).astype({k: v[0] for k, v in PACKET_COLUMNS.items()})


def test_reused_four_tuple_after_close_is_a_new_connection():
    _, flows = build_flows(table(
        (C, 0x02, 100, 0, 0), (S, 0x12, 500, 101, 0), (C, 0x10, 101, 501, 0),
        (C, 0x11, 101, 501, 0), (S, 0x11, 501, 102, 0), (C, 0x10, 102, 502, 0),
        (C, 0x02, 9000, 0, 0), (S, 0x12, 7000, 9001, 0), (C, 0x04, 9001, 0, 0),
    ))
    assert flows["flow"].tolist() == ["10.0.0.1:40000>10.0.0.2:80", "10.0.0.1:40000>10.0.0.2:80#2"]
    assert flows["conn_state"].tolist() == ["SF", "RSTO"]
    assert flows["first_frame"].tolist() == [1, 7]


def test_retransmitted_syn_after_reset_stays_one_connection():
    # nowebaccess2: the same SYN (same ISN) retried after each RST is one connection for tshark and for us
    _, flows = build_flows(table((C, 0x02, 100, 0, 0), (S, 0x14, 0, 101, 0), (C, 0x02, 100, 0, 0), (S, 0x14, 0, 101, 0)))
    assert len(flows) == 1 and flows["conn_state"].iloc[0] == "REJ"


def test_relative_numbers_and_late_data_facts():
    pk, flows = build_flows(table(
        (C, 0x02, 100, 0, 0), (S, 0x12, 500, 101, 0), (C, 0x10, 101, 501, 0),
        (C, 0x18, 101, 501, 78), (C, 0x11, 179, 501, 0), (S, 0x18, 501, 180, 4096), (C, 0x04, 180, 0, 0),
    ))
    assert pk["seq"].tolist() == [0, 0, 1, 1, 79, 1, 80]
    row = flows.iloc[0]
    assert (row["data_after_fin_by"], row["data_after_fin_frame"], row["rst_answer_frame"]) == ("server", 6, 7)
    assert (row["bytes_after_peer_fin_server"], row["unacked_at_rst_bytes"], row["bytes_before_peer_fin_server"]) == (4096, 4096, 0)
    assert row["history"] == "ShADFdR"  # no pure ACK from the server in this ladder


def test_roles_are_guessed_without_a_syn():
    _, flows = build_flows(table((S, 0x18, 5, 7, 10), (C, 0x10, 7, 15, 0)))
    assert flows["role_guessed"].tolist() == [True]
    assert flows["server"].tolist() == ["10.0.0.2:80"]
    assert flows["conn_state"].tolist() == ["OTH"]
