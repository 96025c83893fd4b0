"""The few facts `abortscope run` prints once a run is over, read back from the bundle.

    app error        the first server event in app.jsonl that carries an error
    RST              the first RST in capture.pcap: who sent it, when
    failing syscall  the first write/send-like syscall in strace.txt that returned -1

A layer that was not recorded (``--no-strace``, a recorder that could not
start) says "not recorded" and why, never "no failing write": nobody looked.

This is a quick look, not the analysis: the analyzer (analysis/) explains the
run properly and writes its timeline into the bundle afterwards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

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
    #: layer ("wire", "syscall") -> why it was not recorded
    not_recorded: dict[str, str] = field(default_factory=dict)
    failing_errno: str | None = None  #: the errno of ``failing_syscall`` (EPIPE)
    truncated: bool = False  #: the snaplen cut packets

    def said(self) -> dict[str, str]:
        """Layer ("app", "wire", "syscall") -> what it shows, in words."""
        said = {
            "app": self.app_error or "no error reached the application",
            "wire": self.rst or f"no RST in {self.packets} packets",
            "syscall": self.failing_syscall or "no failing write",
        }
        said.update({layer: f"not recorded: {why}" for layer, why in self.not_recorded.items()})
        return said

    def lines(self) -> list[str]:
        return [f"{layer + ':':<8} {text}" for layer, text in self.said().items()]

    def warnings(self, iface: str) -> list[str]:
        """What a user must not miss: a capture that ran and holds no packet."""
        if "wire" in self.not_recorded or self.packets:
            return []
        return [f"the capture on {iface} holds no packets: the run's traffic was not seen there"]


#: summary line -> the recorder whose file it reads
LAYER_RECORDERS = {"wire": "capture", "syscall": "strace"}


def summarize(bundle: BundlePaths, server_port: int | None, recorders: dict[str, dict] | None = None) -> RunSummary:
    """The summary of the bundle; ``recorders`` is meta["recorders"] (which layers were recorded, or why not)."""
    not_recorded = {layer: str((recorders or {}).get(name, {}).get("why") or "it did not run")
                    for layer, name in LAYER_RECORDERS.items()
                    if recorders is not None and not recorders.get(name, {}).get("ran")}  # fmt: skip
    packets, rst, truncated = _first_rst(bundle.capture, server_port)
    failing, errno = _first_failing_write(bundle.strace)
    return RunSummary(_first_app_error(bundle.app), rst, failing, packets, not_recorded, errno, truncated)


def _first_app_error(path: Path) -> str | None:
    for event in read_app_events(path, actor="server"):
        if event.get("error"):
            return f"{event.get('impl', 'server')}: {event['error']}"
    return None


def _first_failing_write(path: Path) -> tuple[str | None, str | None]:
    """(the first write-like syscall that failed, as strace printed it with the data elided; its errno)."""
    if not path.exists():
        return None, None
    rows = strace.parse(path.read_text(errors="replace"), ParseContext())
    failed = rows[rows["kind"] == EventKind.WRITE_ERROR.value]
    if failed.empty:
        return None, None
    errno = failed["errno"].iloc[0]
    return QUOTED_BUFFER.sub("...", str(failed["detail"].iloc[0])), None if pd.isna(errno) else str(errno)


def _first_rst(path: Path, server_port: int | None) -> tuple[int, str | None, bool]:
    """(TCP packets in the capture, description of the first RST, whether the snaplen cut any), read with the
    analyzer's reader (it knows every link type, SLL2 included)."""
    if not path.exists():
        return 0, None, False
    try:
        packets, _ = read_packets(path)
    except AbortscopeError:
        return 0, None, False  # an unreadable capture: the analyzer's own run will say why
    truncated = bool(packets["truncated"].any())
    resets = packets.index[(packets["flags"] & RST).astype(bool)]
    if len(resets) == 0:
        return len(packets), None, truncated
    first = packets.loc[resets[0]]
    who = "server" if first["sport"] == server_port else "client"
    t_rel = (first["ts_ns"] - packets["ts_ns"].iloc[0]) / 1e9
    number = packets.index.get_loc(resets[0]) + 1
    return len(packets), f"{who} sent RST at +{t_rel:.3f} s (packet {number} of {len(packets)})", truncated
