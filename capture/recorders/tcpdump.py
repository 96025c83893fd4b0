"""Packet capture with tcpdump (the default backend).

--immediate-mode hands every packet to tcpdump as it arrives and -U writes it
out at once, so the tail of a short run is never stuck in a libpcap block.
Ready = tcpdump printed "listening on" (it prints it after the filter is
attached, right before its capture loop). On SIGINT it prints its counts.
"""

from __future__ import annotations

import signal
import time

from capture.recorders.base import HelperProcess
from capture.recorders.packets import PacketCapture, parse_counts

READY_LINE = r"listening on"
COUNT_LINES = {
    "captured": r"^(\d+) packets? captured",
    "received_by_filter": r"^(\d+) packets? received by filter",
    "dropped_by_kernel": r"^(\d+) packets? dropped by kernel",
}


class TcpdumpCapture(PacketCapture):
    backend = "tcpdump"
    settle_s = 0.05

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._helper: HelperProcess | None = None

    @property
    def pids(self) -> list[int]:
        return [self._helper.pid] if self._helper else []

    def argv(self) -> list[str]:
        return [
            "tcpdump",
            "--time-stamp-precision=nano",
            "--immediate-mode",
            "-U",
            "-n",
            "-i", self.iface,
            "-s", str(self.snaplen),
            "-Z", "root",  # keep root: the bundle is chowned to the invoking user at the end
            "-w", str(self.out_path),
            self.filter,
        ]  # fmt: skip

    def _start(self) -> None:
        self._helper = HelperProcess(self.argv())
        self.status["pid"] = self._helper.pid
        self._helper.wait_for_line(READY_LINE, timeout_s=10)

    def _stop(self) -> None:
        if self._helper is None:  # start failed before the tool ran
            return
        time.sleep(self.settle_s)
        self.status["exit_code"] = self._helper.stop(signal.SIGINT)
        self.status.update(parse_counts(self._helper.stderr_lines, COUNT_LINES))
        self._count_written()
