"""The few facts `abortscope run` prints once a run is over, read back from the bundle.

    app error        the first server event in app.jsonl that carries an error
    RST              the first RST in capture.pcap: who sent it, when
    failing syscall  the first write/send-like syscall in strace.txt that returned -1

This is a quick look, not the analysis: the analyzer (analysis/) explains the
run properly and writes its timeline into the bundle afterwards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from analysis.bundle import BundlePaths
from analysis.events import ParseContext, strace
from analysis.schema import EventKind
from capture.servers.events import read_app_events
from analysis.errors import AbortscopeError
from analysis.pcap import read_packets
from analysis.tcp.flags import RST


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
    for event in read_app_events(path, actor="server"):
        if event.get("error"):
            return f"{event.get('impl', 'server')}: {event['error']}"
    return None


def _first_failing_write(path: Path) -> str | None:
    """The first write-like syscall that failed, as strace printed it (the data elided)."""
    if not path.exists():
        return None
    rows = strace.parse(path.read_text(errors="replace"), ParseContext())
    failed = rows[rows["kind"] == EventKind.WRITE_ERROR.value]
    if failed.empty:
        return None
    return QUOTED_BUFFER.sub("...", str(failed["detail"].iloc[0]))


def _first_rst(path: Path, server_port: int | None) -> tuple[int, str | None]:
    """(TCP packets in the capture, description of the first RST), read with the analyzer's reader."""
    if not path.exists():
        return 0, None
    try:
        packets, _ = read_packets(path)
    except AbortscopeError:
        return 0, None  # an unreadable capture: the analyzer's own run will say why
    resets = packets.index[(packets["flags"] & RST).astype(bool)]
    if len(resets) == 0:
        return len(packets), None
    first = packets.loc[resets[0]]
    who = "server" if first["sport"] == server_port else "client"
    t_rel = (first["ts_ns"] - packets["ts_ns"].iloc[0]) / 1e9
    number = packets.index.get_loc(resets[0]) + 1
    return len(packets), f"{who} sent RST at +{t_rel:.3f} s (packet {number} of {len(packets)})"
