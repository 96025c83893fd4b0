"""Packet capture with tcpdump (the default backend).

--immediate-mode hands every packet to tcpdump as it arrives and -U writes it
out at once, so the tail of a short run is never stuck in a libpcap block.
Ready = tcpdump printed "listening on" (it prints it after the filter is
attached, right before its capture loop). On SIGINT it prints its counts.

tcpdump needs root only to open the capture device: with ``-Z USER`` it then
drops to USER (the invoking user under sudo, else ``nobody``) before it
writes a packet. It writes to its stdout (``-w -``), which is the capture
file we opened in the run's private staging directory, so it never opens a
path at all.
"""

from __future__ import annotations

from capture.recorders.packets import ToolCapture
from capture.users import unprivileged_user


class TcpdumpCapture(ToolCapture):
    backend = "tcpdump"
    settle_s = 0.05
    ready_line = r"listening on"
    count_lines = {
        "captured": r"^(\d+) packets? captured",
        "received_by_filter": r"^(\d+) packets? received by filter",
        "dropped_by_kernel": r"^(\d+) packets? dropped by kernel",
    }
    to_stdout = True

    def __init__(self, *args, max_packets: int | None = None, **kwargs) -> None:
        """``max_packets``: tcpdump stops by itself after that many (``-c``); None: no limit."""
        super().__init__(*args, **kwargs)
        self.max_packets = max_packets
        if max_packets:
            self.status["max_packets"] = max_packets

    @property
    def exited(self) -> bool:
        """tcpdump ended by itself (``-c`` reached, or it failed)."""
        return self._helper is not None and self._helper.proc.poll() is not None

    def argv(self) -> list[str]:
        user = unprivileged_user()
        self.status["runs_as"] = user.name
        return [
            "tcpdump",
            "--time-stamp-precision=nano",
            "--immediate-mode",
            "-U",
            "-n",
            "-i", self.iface,
            "-s", str(self.snaplen),
            "-Z", user.name,
            *(["-c", str(self.max_packets)] if self.max_packets else []),
            "-w", "-",
            self.filter,
        ]  # fmt: skip
