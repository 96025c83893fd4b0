"""What the three packet-capture backends share: the filter, the counts, the tail check.

Every backend writes the packets on ``lo`` that match ``tcp port PORT`` to one
file with nanosecond timestamps (pcap, link type Ethernet) and reports in
``status``:

    backend             tcpdump | dumpcap | scapy
    filter, iface, file
    written             records in the file, counted by reading it back
    captured            what the backend says it wrote
    received_by_filter  packets the kernel passed through the BPF filter. On lo
                        each packet passes it twice (once leaving, once
                        arriving; libpcap and our scapy adapter keep one copy),
                        so this is about 2 x captured there.
    dropped_by_kernel   the socket's drop count (buffer full)
    ts_precision        "ns"
    settle_s            how long we waited after the scenario before stopping

The tail: libpcap on TPACKET_V3 hands packets over a block at a time, and a
half-filled block is only released on a timeout. Stopping right after the last
packet loses them ("20 packets received by filter, 0 packets captured").
tcpdump runs with --immediate-mode -U; dumpcap has no such switch, so we wait
past its block timeout before stopping it; scapy reads its socket until empty.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

from capture.interrupts import deferred
from capture.recorders.base import HelperProcess, Recorder, count_capture_records, ports_of

LOOPBACK = "lo"
#: the interfaces that see loopback traffic (the scenario's): lo itself, and Linux's "any"
LOOPBACK_IFACES = (LOOPBACK, "any")
#: libpcap's default "whole packet" snaplen
FULL_SNAPLEN = 262144


def bpf_filter(ports: int | tuple[int, ...]) -> str:
    """``tcp port P``; several ports (a proxy and its server) are or-ed."""
    return " or ".join(f"tcp port {port}" for port in ports_of(ports))


class PacketCapture(Recorder):
    name = "capture"
    backend = "?"
    #: seconds to wait after the scenario so the tail reaches the file
    settle_s = 0.05

    @classmethod
    def check(cls, iface: str, snaplen: int) -> None:
        """Preflight: RecorderError when this backend cannot capture on ``iface`` with ``snaplen``."""

    def __init__(self, out_path: Path, port: int | tuple[int, ...], iface: str = LOOPBACK, snaplen: int = 0) -> None:
        self.check(iface, snaplen)
        super().__init__()
        self.out_path = Path(out_path)
        self.port = port
        self.iface = iface
        #: bytes kept per packet; 0 = whole packets (a short snaplen makes *-trunc twins)
        self.snaplen = snaplen or FULL_SNAPLEN
        self.filter = bpf_filter(port)
        self.status.update(
            backend=self.backend,
            iface=iface,
            snaplen=self.snaplen,
            filter=self.filter,
            file=self.out_path.name,
            ts_precision="ns",
            settle_s=self.settle_s,
            written=None,
            captured=None,
            received_by_filter=None,
            dropped_by_kernel=None,
        )

    def _count_written(self) -> None:
        if self.out_path.exists():
            self.status["written"] = count_capture_records(self.out_path)
        captured = self.status.get("captured")
        if captured is not None and self.status["written"] != captured:
            self.status["warning"] = f"the backend says {captured} packets captured but the file holds {self.status['written']}"


class ToolCapture(PacketCapture):
    """A backend that runs a capture program: ready on a stderr line, stopped with SIGINT
    (after ``settle_s``), counts read from what it prints on the way out."""

    ready_line = ""  # regex on stderr: the tool is capturing
    count_lines: dict[str, str] = {}  # status key -> regex with one int group, on stderr at exit
    #: the tool writes the packets to its stdout, which is the capture file we opened (else it opens `-w FILE` itself)
    to_stdout = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._helper: HelperProcess | None = None

    @property
    def pids(self) -> list[int]:
        return [self._helper.pid] if self._helper else []

    def argv(self) -> list[str]:
        raise NotImplementedError

    def _start(self) -> None:
        out = open(self.out_path, "wb") if self.to_stdout else None
        try:
            with deferred():  # started and stored together: stop() always finds it
                self._helper = HelperProcess(self.argv(), stdout=out if out is not None else subprocess.DEVNULL)
        finally:
            if out is not None:
                out.close()  # the tool holds its own copy
        self.status["pid"] = self._helper.pid
        self._helper.wait_for_line(self.ready_line, timeout_s=10)

    def _stop(self) -> None:
        if self._helper is None:  # start failed before the tool ran
            return
        time.sleep(self.settle_s)
        self.status["exit_code"] = self._helper.stop(signal.SIGINT)
        self.status.update(parse_counts(self._helper.stderr_lines, self.count_lines))
        self._finish_file()
        self._count_written()

    def _finish_file(self) -> None:
        """Turn what the tool wrote into the bundle's capture file (nothing to do by default)."""


def parse_counts(lines: list[str], patterns: dict[str, str]) -> dict[str, int]:
    """{key: int} from the last stderr line matching each pattern (one int group)."""
    counts: dict[str, int] = {}
    for key, pattern in patterns.items():
        regex = re.compile(pattern)
        for line in lines:
            match = regex.search(line)
            if match:
                counts[key] = int(match.group(1))
    return counts
