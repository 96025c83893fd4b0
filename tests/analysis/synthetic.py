"""A big, realistic packet table for speed tests: many HTTP-like connections, some closed by FIN, some by RST."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.pcap.table import PACKET_COLUMNS


def packet_table(n_packets: int = 1_000_000, packets_per_conn: int = 100, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_conn = n_packets // packets_per_conn
    k = np.arange(packets_per_conn)
    conn = np.repeat(np.arange(n_conn), packets_per_conn)
    pos = np.tile(k, n_conn)
    # handshake S, S., ., then alternate request/response data, end with F. both ways (or a client RST for 1 in 5)
    from_client = (pos % 2 == 0)
    flags = np.where(pos == 0, 0x02, np.where(pos == 1, 0x12, 0x18))
    flags = np.where(pos == 2, 0x10, flags)
    last = pos >= packets_per_conn - 2
    rst_conn = (np.arange(n_conn) % 5 == 0)[conn]
    flags = np.where(last & ~rst_conn, 0x11, flags)
    flags = np.where((pos == packets_per_conn - 1) & rst_conn, 0x04, flags)
    length = np.where((pos >= 3) & ~last, rng.integers(1, 65_483, n_packets), 0)
    length = np.where(from_client & (pos >= 3) & ~last, 100, length)
    isn_c = rng.integers(0, 2**32, n_conn)[conn]
    isn_s = rng.integers(0, 2**32, n_conn)[conn]
    sent = pd.Series(length).groupby([conn, from_client]).cumsum().to_numpy() - length
    seq = np.where(from_client, isn_c, isn_s) + (pos > 1) + sent
    ack = np.where(from_client, isn_s, isn_c) + 1
    client_port = 10_000 + (np.arange(n_conn) % 50_000)
    client_ip = np.array([f"10.0.{i // 250}.{i % 250 + 1}" for i in range(n_conn // 50_000 + 1)], dtype=object)
    cip = client_ip[(np.arange(n_conn) // 50_000)][conn]
    ts = 1_795_000_000_000_000_000 + np.arange(n_packets, dtype=np.int64) * 1_000
    order = np.argsort(ts + rng.integers(0, 1, n_packets), kind="stable")  # already in time order
    table = pd.DataFrame({
        "frame": np.arange(1, n_packets + 1),
        "ts_ns": ts,
        "iface": 0,
        "vlan": "",
        "ip_version": 4,
        "src": np.where(from_client, cip, "10.1.0.1"),
        "dst": np.where(from_client, "10.1.0.1", cip),
        "sport": np.where(from_client, client_port[conn], 8080),
        "dport": np.where(from_client, 8080, client_port[conn]),
        "flags": flags,
        "seq_raw": seq % 2**32,
        "ack_raw": np.where(pos == 0, 0, ack % 2**32),
        "len": length,
        "win": 65_535,
        "truncated": False,
    }).iloc[order]
    # interleave connections as a busy server would: shuffle packets of different connections in blocks
    return table.astype({k: v[0] for k, v in PACKET_COLUMNS.items()})
