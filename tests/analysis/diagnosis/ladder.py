"""Literal ladders for diagnosis tests: packets and events top to bottom, in, the connection table's row out.

    row = diagnose_ladder(
        C("S"), S("SA"), C("A"), C("PA", 78),   # handshake, request
        C("FA"),                                # the client closes
        Call("server", "write", 4096),          # strace: the server's write still succeeds
        S("PA", 4096),                          # ... and its data goes out
        C("R"),                                 # the client's kernel answers with RST
        Call("server", "write_error", errno="EPIPE"))

Packets are 1 ms apart, events 100 µs after the row before them; sequence
numbers follow the payload; every event is tied to the one connection.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.diagnosis import connection_table, diagnosis_of
from analysis.pcap.table import PACKET_COLUMNS
from analysis.schema import conform
from analysis.tcp import build_flows
from analysis.timeline import merge

CLIENT, SERVER = ("10.0.0.1", 40000), ("10.0.0.2", 80)
FLOW = "10.0.0.1:40000>10.0.0.2:80"
FLAGS = {"S": 0x02, "SA": 0x12, "A": 0x10, "PA": 0x18, "FA": 0x11, "FPA": 0x19, "R": 0x04, "RA": 0x14}
T0 = 1_795_000_000_000_000_000


@dataclass(frozen=True)
class Packet:
    client: bool
    flags: str
    length: int = 0
    win: int = 1000


def C(flags: str, length: int = 0, win: int = 1000) -> Packet:  # noqa: N802 - reads as a ladder
    return Packet(True, flags, length, win)


def S(flags: str, length: int = 0, win: int = 1000) -> Packet:  # noqa: N802
    return Packet(False, flags, length, win)


@dataclass(frozen=True)
class Event:
    source: str
    actor: str
    kind: str
    length: int | None = None
    errno: str | None = None
    detail: str | None = None


def Call(actor: str, kind: str, length: int | None = None, errno: str | None = None,  # noqa: N802
         detail: str | None = None) -> Event:
    return Event("syscall", actor, kind, length, errno, detail or f"write(3<TCP:[...]>, ..., 4096) = {length or -1}")


def Kernel(actor: str, kind: str, detail: str, errno: str | None = None) -> Event:  # noqa: N802
    return Event("kernel", actor, kind, None, errno, detail)


def App(actor: str, kind: str, detail: str | None = None, errno: str | None = None,  # noqa: N802
        length: int | None = None) -> Event:
    return Event("app", actor, kind, length, errno, detail)


def diagnose_ladder(*steps: Packet | Event, sources: tuple[str, ...] | None = None):
    """(connection-table row as a dict, its Diagnosis) of the ladder."""
    packets, events, seq, ts = [], [], {True: 1000, False: 5000}, T0
    for step in steps:
        if isinstance(step, Packet):
            ts += 1_000_000
            me, peer = (CLIENT, SERVER) if step.client else (SERVER, CLIENT)
            flags = FLAGS[step.flags]
            packets.append(dict(frame=len(packets) + 1, ts_ns=ts, iface=0, vlan="", ip_version=4,
                                src=me[0], dst=peer[0], sport=me[1], dport=peer[1], flags=flags, seq_raw=seq[step.client],
                                ack_raw=seq[not step.client], len=step.length, win=step.win, truncated=False))
            seq[step.client] += step.length + (1 if flags & 0x03 else 0)
        else:
            ts += 100_000
            events.append(dict(ts_ns=ts, flow=FLOW, source=step.source, actor=step.actor, kind=step.kind,
                               len=step.length, errno=step.errno, detail=step.detail))
    pk, flows = build_flows(pd.DataFrame(packets).astype({k: v[0] for k, v in PACKET_COLUMNS.items()}))
    rows = pd.DataFrame(events, columns=["ts_ns", "flow", "source", "actor", "kind", "len", "errno", "detail"])
    other = merge([conform(rows.assign(t_rel=float("nan")).astype({"len": "Int64"}))], flows)
    row = connection_table(flows, other).iloc[0].to_dict()
    used = sources if sources is not None else ("packets", *sorted({"syscall": "strace"}.get(e.source, e.source)
                                                                     for e in steps if isinstance(e, Event)))
    return row, diagnosis_of(row, used, "go")
