"""Flows and close facts on the public corpus, checked against tshark and the corpus README's stories."""

import io
import subprocess

import pandas as pd
import pytest

from analysis.errors import AbortscopeError
from analysis.pcap import read_packets
from analysis.tcp import build_flows
from analysis.tcp.history import CONN_STATE_LEGEND, HISTORY_LEGEND
from tests.conftest import corpus_files, corpus_params, require_tools

#: tshark keys TCP streams without VLANs and merges these connections (corpus README caveat).
TSHARK_MERGES_VLANS = {"zeek__vlan-collisions.pcap"}


def flows_of(path):
    table, _ = read_packets(path)
    return build_flows(table)


def tshark_firsts(path) -> dict:
    """{frozenset(frames of a stream): {(src endpoint, 'fin'|'rst'): first frame}} from tshark."""
    fields = ["tcp.stream", "frame.number", "ip.src", "ipv6.src", "tcp.srcport", "tcp.flags.fin", "tcp.flags.reset"]
    cmd = ["tshark", "-n", "-r", str(path), "-Y", "tcp", "-T", "fields"] + [x for f in fields for x in ("-e", f)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    df = pd.read_csv(io.StringIO(out), sep="\t", names=fields, dtype=str, keep_default_na=False)
    df["src"] = df["ip.src"].where(df["ip.src"] != "", df["ipv6.src"]) + "/" + df["tcp.srcport"]
    df["frame"] = df["frame.number"].astype(int)
    result = {}
    for _, stream in df.groupby("tcp.stream"):
        firsts = {}
        for flag, col in (("fin", "tcp.flags.fin"), ("rst", "tcp.flags.reset")):
            hit = stream[stream[col].isin(["1", "True"])]
            for src, rows in hit.groupby("src"):
                firsts[(src, flag)] = int(rows["frame"].min())
        result[frozenset(stream["frame"])] = firsts
    return result


def our_firsts(pk, flows) -> dict:
    pk = pk.assign(srcep=pk["src"].astype(str) + "/" + pk["sport"].astype(str))
    result = {}
    for conn, rows in pk.groupby("conn"):
        firsts = {}
        for flag, bit in (("fin", 0x01), ("rst", 0x04)):
            hit = rows[(rows["flags"] & bit) != 0]
            for src, r in hit.groupby("srcep"):
                firsts[(src, flag)] = int(r["frame"].min())
        result[frozenset(rows["frame"])] = firsts
        # the flows table says the same as the packets
        row = flows.loc[conn]
        for flag in ("fin", "rst"):
            for side in ("client", "server"):
                want = [v for (src, f), v in firsts.items() if f == flag and
                        (rows.loc[rows["srcep"] == src, "from_client"].iloc[0] == (side == "client"))]
                got = row[f"{flag}_frame_{side}"]
                assert (pd.isna(got) and not want) or [int(got)] == want
    return result


READABLE = [p for p in corpus_files() if not p.name.startswith(("libpcap__", "suricata__fuzz"))]


#: tshark cannot be the oracle where it merges VLAN contexts: those files are checked in test_vlan_collisions
@pytest.mark.parametrize("path", corpus_params([p for p in READABLE if p.name not in TSHARK_MERGES_VLANS]))
def test_first_fin_and_rst_per_connection_agree_with_tshark(path, corpus):
    require_tools("tshark")
    pk, flows = flows_of(path)
    assert our_firsts(pk, flows) == tshark_firsts(path)


def test_vlan_collisions_are_three_connections_each_closed_by_fin(corpus):
    pk, flows = flows_of(corpus / "zeek__vlan-collisions.pcap")
    our_firsts(pk, flows)  # the flows table agrees with the packets (tshark cannot be the oracle here)
    assert len(flows) == 3
    assert sorted(flows["vlan"].tolist()) == ["", "10;20", "42"]
    assert flows["conn_state"].tolist() == ["SF"] * 3
    assert flows["first_fin_by"].tolist() == ["client"] * 3 and flows["first_rst_frame"].isna().all()
    assert flows["flow"].tolist() == ["141.142.228.5:59856>192.150.187.43:80",
                                      "141.142.228.5:59856>192.150.187.43:80#2", "141.142.228.5:59856>192.150.187.43:80#3"]


def test_directions_on_different_vlans_stay_one_connection(corpus):
    _, flows = flows_of(corpus / "zeek__ldap-modify-request-126ifaces.pcapng")
    assert len(flows) == 1
    row = flows.iloc[0]
    assert row["flow"].startswith("[2a00:6020:ad0b:8381:c8c2:18f1:4b9d:7524]:49695>[2a00:6020:ad0b:8380::10]:389")
    assert (row["first_fin_by"], row["first_fin_frame"], row["first_rst_by"], row["first_rst_frame"]) == ("client", 15, "server", 17)


@pytest.mark.parametrize("name, facts", [
    # README: the FTP server sends FIN (4); the client sends QUIT (6); the server answers with RST (7)
    ("suricata__ftp-quit.pcap", dict(first_fin_by="server", first_fin_frame=4, data_after_fin_by="client",
                                     data_after_fin_frame=6, rst_answer_frame=7, conn_state="RSTR")),
    # client close_notify+FIN (16); the server's 27 bytes (17); client RST (18)
    ("zeek__ocsp-stapling-twimg.pcap", dict(first_fin_by="client", first_fin_frame=16, data_after_fin_by="server",
                                            data_after_fin_frame=17, rst_answer_frame=18, bytes_after_peer_fin_server=27)),
    # client FIN (16); server 31 bytes (17); client RST (18)
    ("zeek__irc-starttls-sll.pcap", dict(first_fin_frame=16, data_after_fin_frame=17, rst_answer_frame=18,
                                         bytes_after_peer_fin_server=31)),
    # clean half-close: client FIN (5); server answers 1650 bytes; server FIN (47); no RST
    ("suricata__dns-tcp-multirequest-buffer.pcap", dict(first_fin_by="client", first_fin_frame=5, half_close_by="client",
                                                        bytes_after_peer_fin_server=1650, fin_frame_server=47,
                                                        conn_state="SF")),
    # server RST/ACK (7) after its banner, no FIN
    ("zeek__get-to-ssh-server.pcap", dict(first_rst_by="server", first_rst_frame=7, conn_state="RSTR")),
    ("ppa3e__tcp_refuseconnection.pcapng", dict(conn_state="REJ", history="Sr")),
    ("ppa3e__tcp_handshake.pcapng", dict(conn_state="S1", history="ShA")),
    # mid-stream, the port-80 side sends FIN first: roles are a guess (server = port 80)
    ("ppa3e__tcp_teardown.pcapng", dict(role_guessed=True, first_fin_by="server", first_fin_frame=1, conn_state="SF")),
])
def test_known_stories_from_the_corpus_readme(name, facts, corpus):
    _, flows = flows_of(corpus / name)
    row = flows.iloc[0]
    got = {k: (None if pd.isna(row[k]) else row[k]) for k in facts}
    assert got == facts


def test_rst_payload_counts_as_bytes(corpus):
    _, flows = flows_of(corpus / "suricata__tcp-rst-with-data.pcap")
    assert flows.iloc[0]["first_rst_frame"] == 8
    assert flows.iloc[0]["bytes_client"] >= 13


def test_relative_sequence_numbers_start_at_zero_on_syn(corpus):
    pk, _ = flows_of(corpus / "zeek__get-gzip.pcap")
    syns = pk[(pk["flags"] & 0x02) != 0]
    assert (syns["seq"] == 0).all()
    assert pk.loc[pk["frame"] == 11, "ack"].iloc[0] == 80  # README: the server FIN acks 80


def test_legends_cover_every_code():
    assert {r.letter for r in HISTORY_LEGEND} == set("SHADTWFR")
    assert set(CONN_STATE_LEGEND) == {"REJ", "RSTOS0", "SH", "S0", "RSTRH", "SHR", "RSTO", "RSTR", "SF", "S2", "S3", "S1", "OTH"}


@pytest.mark.parametrize("path", corpus_params([p for p in corpus_files() if p not in READABLE]))
def test_unreadable_files_give_our_error_or_nothing_with_a_warning(path, corpus):
    try:
        table, report = read_packets(path)
    except AbortscopeError:
        return
    pk, flows = build_flows(table)
    assert len(flows) == 0 and report.warnings
