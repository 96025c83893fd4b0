"""Literal timelines for the plot tests.

ROWS is the go + curl 8061-byte run recorded by hand on loopback (tcpdump
--time-stamp-precision=nano, strace -f -ttt): packets and syscalls are real;
the kernel rows were placed at the packets' instants the way the TCP
tracepoints report them (state changes, RST sent with its reason, sk_error).
"""

from __future__ import annotations

import pandas as pd

from analysis.schema import conform

BASE_NS = 1_795_472_812_841_829_016
CLIENT, SERVER = "127.0.0.1:39262", "127.0.0.1:18061"
FLOW = f"{CLIENT}>{SERVER}"

ROWS = [
    # (dt_ns, source, actor, kind, frame, flags, seq, ack, len, errno, detail)
    (0, 'kernel', 'client', 'state', None, None, None, None, None, None, 'CLOSE->SYN_SENT'),
    (2000, 'packet', 'client', 'SYN', 1, 'S', 0, None, 0, None, None),
    (14458, 'packet', 'server', 'SYN-ACK', 2, 'S.', 0, 1, 0, None, None),
    (26438, 'kernel', 'client', 'state', None, None, None, None, None, None, 'SYN_SENT->ESTABLISHED'),
    (27438, 'packet', 'client', 'ACK', 3, '.', 1, 1, 0, None, None),
    (28438, 'kernel', 'server', 'state', None, None, None, None, None, None, 'SYN_RECV->ESTABLISHED'),
    (120436, 'packet', 'client', 'DATA', 4, 'P.', 1, 1, 79, None, None),
    (126535, 'packet', 'server', 'ACK', 5, '.', 1, 80, 0, None, None),
    (298984, 'syscall', 'server', 'accept', None, None, None, None, None, None, None),
    (3273984, 'syscall', 'server', 'read', None, None, None, None, 79, None, None),
    (3494000, 'syscall', 'server', 'read_error', None, None, None, None, None, 'EAGAIN', None),
    (292051721, 'app', 'client', 'abort', None, None, None, None, None, None, 'curl: SIGINT'),
    (292248721, 'kernel', 'client', 'state', None, None, None, None, None, None, 'ESTABLISHED->FIN_WAIT1'),
    (292251721, 'packet', 'client', 'FIN', 6, 'F.', 80, 1, 0, None, None),
    (292255721, 'kernel', 'server', 'state', None, None, None, None, None, None, 'ESTABLISHED->CLOSE_WAIT'),
    (292257721, 'kernel', 'client', 'state', None, None, None, None, None, None, 'FIN_WAIT1->FIN_WAIT2'),
    (292544984, 'syscall', 'server', 'read_eof', None, None, None, None, 0, None, None),
    (334028039, 'packet', 'server', 'ACK', 7, '.', 1, 81, 0, None, None),
    (1004028984, 'syscall', 'server', 'write', None, None, None, None, 4096, None, None),
    (1004113200, 'packet', 'server', 'DATA', 8, 'P.', 1, 81, 4096, None, None),
    (1004127204, 'kernel', 'client', 'rst_sent', None, None, None, None, None, None, 'NO_SOCKET'),
    (1004128204, 'kernel', 'client', 'state', None, None, None, None, None, None, 'FIN_WAIT2->CLOSE'),
    (1004129204, 'packet', 'client', 'RST', 9, 'R', 81, None, 0, None, None),
    (1004138204, 'kernel', 'server', 'rst_received', None, None, None, None, None, None, ''),
    (1004139204, 'kernel', 'server', 'sk_error', None, None, None, None, None, 'EPIPE', ''),
    (1004140204, 'kernel', 'server', 'state', None, None, None, None, None, None, 'CLOSE_WAIT->CLOSE'),
    (1004197984, 'syscall', 'server', 'write_error', None, None, None, None, None, 'EPIPE', None),
    (1004282000, 'syscall', 'server', 'signal', None, None, None, None, None, None, '--- SIGPIPE {si_signo=SIGPIPE}'),
    (1004495984, 'syscall', 'server', 'close', None, None, None, None, None, None, None),
    (1004597984, 'app', 'server', 'write_error', None, None, None, None, None, 'EPIPE', 'write tcp ...: broken pipe'),
]
_NAMES = ("dt_ns", "source", "actor", "kind", "frame", "flags", "seq", "ack", "len", "errno", "detail")


def timeline(rows=ROWS, flow: str = FLOW, shift_ns: int = 0) -> pd.DataFrame:
    """The rows as a schema-conformant timeline of one flow, ``shift_ns`` later."""
    frame = pd.DataFrame(rows, columns=_NAMES)
    first_packet = frame.loc[frame["source"] == "packet", "dt_ns"].min()
    frame["ts_ns"] = BASE_NS + shift_ns + frame.pop("dt_ns")
    frame["t_rel"] = (frame["ts_ns"] - (BASE_NS + shift_ns + first_packet)) / 1e9
    frame["flow"] = flow
    return conform(frame)


def two_flows() -> pd.DataFrame:
    """The same story twice, on two client ports, the second 150 ms after the first."""
    other = FLOW.replace(":39262", ":39270")
    both = pd.concat([timeline(), timeline(flow=other, shift_ns=150_000_000)])
    return conform(both.sort_values("ts_ns", kind="stable").reset_index(drop=True))


def frame_of(tl: pd.DataFrame, kind: str) -> int:
    return int(tl.loc[tl["kind"] == kind, "frame"].dropna().iloc[0])


def ts_of(tl: pd.DataFrame, source: str, kind: str) -> int:
    return int(tl.loc[(tl["source"] == source) & (tl["kind"] == kind), "ts_ns"].iloc[0])
