"""Packet capture with scapy's AsyncSniffer (our one scapy adapter for live sniffing).

We open the packet socket ourselves, with the BPF filter attached, before the
sniffer thread starts: from the moment `start()` returns the kernel queues
every matching packet on that socket, so "ready" needs no guess.

On lo a packet socket sees each packet twice (leaving and arriving); like
libpcap we keep the arriving copy only (scapy's L2Socket drops
PACKET_OUTGOING; its L2ListenSocket would keep both).

Drain: read the socket's PACKET_STATISTICS, then let the sniffer empty the
socket before stopping it.
"""

from __future__ import annotations

import logging
import select
import struct
import threading
import time

from capture.recorders.base import RecorderError
from capture.recorders.packets import FULL_SNAPLEN, LOOPBACK, PacketCapture

SOL_PACKET = 263
PACKET_STATISTICS = 6
DLT_EN10MB = 1


class ScapyCapture(PacketCapture):
    backend = "scapy"
    settle_s = 0.05

    @classmethod
    def check(cls, iface: str, snaplen: int) -> None:
        # Frames are written as Ethernet, whole: other interfaces and snaplens are tcpdump's/dumpcap's job.
        if iface != LOOPBACK or snaplen not in (0, FULL_SNAPLEN):
            raise RecorderError("the scapy capture backend records whole packets on lo only: use --capture tcpdump")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._socket = None
        self._sniffer = None
        self._writer = None
        self._written = 0
        self._lock = threading.Lock()

    def _write(self, packet) -> None:
        with self._lock:
            self._writer.write(packet)
            self._written += 1

    def _start(self) -> None:
        from scapy.arch.linux import L2Socket  # heavy imports, only for this backend
        from scapy.layers.l2 import Ether
        from scapy.sendrecv import AsyncSniffer
        from scapy.utils import PcapWriter

        runtime_log = logging.getLogger("scapy.runtime")
        level = runtime_log.level
        runtime_log.setLevel(logging.ERROR)  # "Unable to guess type (family=772)": lo frames are Ethernet, set below
        try:
            self._socket = L2Socket(iface=self.iface, filter=self.filter)
        finally:
            runtime_log.setLevel(level)
        self._socket.LL = Ether  # Linux gives lo a zeroed Ethernet header (libpcap: DLT_EN10MB)
        # Reading the statistics resets them: forget what the socket saw (and dropped, with its
        # receive buffer still 0) between socket() and the filter being attached.
        self._read_statistics()
        self._writer = PcapWriter(str(self.out_path), nano=True, linktype=DLT_EN10MB, sync=True)
        self._sniffer = AsyncSniffer(opened_socket=self._socket, prn=self._write, store=False)
        self._sniffer.start()

    def _stop(self) -> None:
        time.sleep(self.settle_s)
        try:
            if self._socket is not None:
                received, dropped = self._read_statistics()
                self.status.update(received_by_filter=received, dropped_by_kernel=dropped)
                self._wait_until_socket_empty(timeout_s=2.0)
        finally:
            if self._sniffer is not None and self._sniffer.running:
                self._sniffer.stop()
            if self._writer is not None:
                self._writer.close()
            if self._socket is not None:
                self._socket.close()
        self.status["captured"] = self._written
        self._count_written()

    def _read_statistics(self) -> tuple[int, int]:
        """(packets that passed the filter, packets dropped) since the last call."""
        raw = self._socket.ins.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        return struct.unpack("II", raw)

    def _wait_until_socket_empty(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            readable, _, _ = select.select([self._socket.ins], [], [], 0)
            if not readable:
                time.sleep(0.02)  # the sniffer thread may still be writing the last one it took
                if not select.select([self._socket.ins], [], [], 0)[0]:
                    return
            time.sleep(0.01)
