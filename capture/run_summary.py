"""The few facts `abortscope run` prints once a run is over, read back from the bundle.

    app error        the first server event in app.jsonl that carries an error
    RST              the first RST in capture.pcap: who sent it, when
    failing syscall  the first write/send-like syscall in strace.txt that returned -1

This is a quick look, not the analysis: the analyzer (analysis/) explains the
run properly and writes its timeline into the bundle afterwards.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from analysis.bundle import BundlePaths

ETHERTYPE_IPV4, ETHERTYPE_IPV6 = 0x0800, 0x86DD
TCP_RST = 0x04
WRITE_SYSCALLS = ("write", "writev", "sendto", "sendmsg", "sendfile")
FAILED_WRITE = re.compile(r"^(?:\d+\s+)?(?P<ts>\d+\.\d+) (?P<call>(?:%s)\(.*\) = -1 (?P<errno>E[A-Z]+).*)$" % "|".join(WRITE_SYSCALLS))

#: the data argument strace prints ("\0\0..."...), elided from the summary line
QUOTED_BUFFER = re.compile(r'"(?:[^"\\]|\\.)*"(?:\.\.\.)?')


@dataclass(frozen=True)
class RunSummary:
    app_error: str | None
    rst: str | None
    failing_syscall: str | None
    packets: int

    def lines(self) -> list[str]:
        return [
            f"app:     {self.app_error or 'no error reached the application'}",
            f"wire:    {self.rst or f'no RST in {self.packets} packets'}",
            f"syscall: {self.failing_syscall or 'no failing write'}",
        ]


def summarize(bundle: BundlePaths, server_port: int | None) -> RunSummary:
    packets, rst = _first_rst(bundle.capture, server_port)
    return RunSummary(_first_app_error(bundle.app), rst, _first_failing_write(bundle.strace), packets)


def _first_app_error(path: Path) -> str | None:
    if not path.exists():
        return None
    for line in path.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and event.get("error") and event.get("actor", "server") == "server":
            return f"{event.get('impl', 'server')}: {event['error']}"
    return None


def _first_failing_write(path: Path) -> str | None:
    if not path.exists():
        return None
    for line in path.read_text(errors="replace").splitlines():
        match = FAILED_WRITE.match(line)
        if match:
            return QUOTED_BUFFER.sub("...", match.group("call"))
    return None


def _first_rst(path: Path, server_port: int | None) -> tuple[int, str | None]:
    """(TCP packets in a pcap file, description of the first RST) from an Ethernet pcap on lo."""
    if not path.exists():
        return 0, None
    data = path.read_bytes()
    if len(data) < 24 or data[:4] not in (b"\x4d\x3c\xb2\xa1", b"\xd4\xc3\xb2\xa1"):
        return 0, None  # not a little-endian pcap: leave it to the analyzer
    nano = data[:4] == b"\x4d\x3c\xb2\xa1"
    offset, count, first_ts_ns, rst = 24, 0, None, None
    while offset + 16 <= len(data):
        sec = int.from_bytes(data[offset : offset + 4], "little")
        frac = int.from_bytes(data[offset + 4 : offset + 8], "little")
        caplen = int.from_bytes(data[offset + 8 : offset + 12], "little")
        frame = data[offset + 16 : offset + 16 + caplen]
        offset += 16 + caplen
        tcp = _tcp_header(frame)
        if tcp is None:
            continue
        count += 1
        ts_ns = sec * 1_000_000_000 + (frac if nano else frac * 1000)
        first_ts_ns = ts_ns if first_ts_ns is None else first_ts_ns
        if rst is None and len(tcp) >= 14 and tcp[13] & TCP_RST:
            sport = int.from_bytes(tcp[0:2], "big")
            who = "server" if sport == server_port else "client"
            rst = (who, (ts_ns - first_ts_ns) / 1e9, count)
    if rst is None:
        return count, None
    who, t_rel, frame = rst
    return count, f"{who} sent RST at +{t_rel:.3f} s (packet {frame} of {count})"


def _tcp_header(frame: bytes) -> bytes | None:
    if len(frame) < 14:
        return None
    ethertype = int.from_bytes(frame[12:14], "big")
    ip = frame[14:]
    if ethertype == ETHERTYPE_IPV4 and len(ip) >= 20 and ip[9] == 6:
        return ip[(ip[0] & 0x0F) * 4 :]
    if ethertype == ETHERTYPE_IPV6 and len(ip) >= 40 and ip[6] == 6:  # no extension headers on lo
        return ip[40:]
    return None
