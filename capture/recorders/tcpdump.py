"""Packet capture with tcpdump (the default backend).

--immediate-mode hands every packet to tcpdump as it arrives and -U writes it
out at once, so the tail of a short run is never stuck in a libpcap block.
Ready = tcpdump printed "listening on" (it prints it after the filter is
attached, right before its capture loop). On SIGINT it prints its counts.
"""

from __future__ import annotations

from capture.recorders.packets import ToolCapture


class TcpdumpCapture(ToolCapture):
    backend = "tcpdump"
    settle_s = 0.05
    ready_line = r"listening on"
    count_lines = {
        "captured": r"^(\d+) packets? captured",
        "received_by_filter": r"^(\d+) packets? received by filter",
        "dropped_by_kernel": r"^(\d+) packets? dropped by kernel",
    }

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
