"""When a recording ends by itself: the duration, the target's end, the first RST, the safety limits.

Checked a few times a second by capture.record.session. Ctrl-C and SIGTERM end
it too (capture.interrupts turns them into the stop); every reason is one of
:data:`REASONS`, the value of meta["record"]["stopped_by"].
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from analysis.errors import AbortscopeError
from analysis.pcap import read_packets
from analysis.tcp.flags import RST
from capture import procs

#: stopped_by -> what it means, in the words printed at the end
REASONS = {
    "duration": "--duration elapsed",
    "signal": "Ctrl-C / SIGTERM",
    "first RST": "--until-rst: a RST on the port",
    "max-packets": "--max-packets reached: later packets were not recorded",
    "max-bytes": "--max-bytes reached: later packets were not recorded",
    "target exited": "the recorded process exited",
    "capture stopped": "the packet capture ended by itself",
}
#: --until-rst: how long after the first RST the recording goes on (the last ACKs, the app's error line)
AFTER_RST_S = 0.5
#: --until-rst re-reads the capture at most this often
RST_POLL_S = 0.2


@dataclass
class StopWhen:
    duration_s: float | None
    until_rst: bool
    max_bytes: int | None
    capture_file: Path
    target_pid: int

    def __post_init__(self) -> None:
        self.started = time.monotonic()
        self._rst_seen_at: float | None = None
        self._checked_size = -1
        self._checked_at = 0.0

    def reason(self, capture_exited: bool, max_packets: int | None) -> str | None:
        """Why to stop now, or None to go on."""
        now = time.monotonic()
        if self.duration_s is not None and now - self.started >= self.duration_s:
            return "duration"
        if not procs.is_running(self.target_pid):
            return "target exited"
        if capture_exited:
            return "max-packets" if max_packets else "capture stopped"
        size = self.capture_file.stat().st_size if self.capture_file.exists() else 0
        if self.max_bytes is not None and size >= self.max_bytes:
            return "max-bytes"
        if self.until_rst:
            if self._rst_seen_at is None and size != self._checked_size and now - self._checked_at >= RST_POLL_S:
                self._checked_size, self._checked_at = size, now
                if _has_rst(self.capture_file):
                    self._rst_seen_at = now
            if self._rst_seen_at is not None and now - self._rst_seen_at >= AFTER_RST_S:
                return "first RST"
        return None


def _has_rst(path: Path) -> bool:
    """A RST among the packets written so far (a torn last record is left for the next look)."""
    try:
        packets, _ = read_packets(path)
    except (AbortscopeError, OSError):
        return False
    return bool(len(packets)) and bool((packets["flags"] & RST).astype(bool).any())
