"""Packet capture with dumpcap (Wireshark's capture engine).

dumpcap writes pcap (-P) only with microsecond timestamps, so it writes
pcapng (nanosecond if_tsresol) to a side file, and at drain
`editcap -F nsecpcap` turns it into the bundle's nanosecond pcap. Without
editcap the pcapng itself becomes capture.pcap (the readers go by magic).

dumpcap has no immediate mode: packets sit in a libpcap block until its
timeout (measured here: lost when stopped 0.1 s after the last packet, kept
at 0.2 s). We wait `settle_s` past that before stopping.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

from capture.recorders.base import HelperProcess, RecorderError
from capture.recorders.packets import PacketCapture, parse_counts

READY_LINE = r"Capturing on"
COUNT_LINES = {
    "captured": r"Packets captured: (\d+)",
    "received_by_filter": r"Packets received/dropped on interface .*: (\d+)/\d+",
    "dropped_by_kernel": r"Packets received/dropped on interface .*: \d+/(\d+)",
}


class DumpcapCapture(PacketCapture):
    backend = "dumpcap"
    settle_s = 0.5

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._helper: HelperProcess | None = None
        self._pcapng = self.out_path.with_name(self.out_path.name + ".pcapng")

    @property
    def pids(self) -> list[int]:
        return [self._helper.pid] if self._helper else []

    def argv(self) -> list[str]:
        return ["dumpcap", "-n", "-i", self.iface, "-f", self.filter, "-s", str(self.snaplen), "-w", str(self._pcapng)]

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
        self._to_nanosecond_pcap()
        self._count_written()

    def _to_nanosecond_pcap(self) -> None:
        if not self._pcapng.exists():
            return
        if shutil.which("editcap") is None:
            os.replace(self._pcapng, self.out_path)
            self.status["format"] = "pcapng (editcap missing: apt-get install wireshark-common)"
            return
        done = subprocess.run(
            ["editcap", "-F", "nsecpcap", str(self._pcapng), str(self.out_path)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if done.returncode != 0:
            os.replace(self._pcapng, self.out_path)
            raise RecorderError(f"editcap failed, kept the pcapng as is: {done.stderr.strip()}")
        self._pcapng.unlink()
