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
import subprocess

from capture.recorders.base import RecorderError
from capture.recorders.packets import ToolCapture

class DumpcapCapture(ToolCapture):
    backend = "dumpcap"
    settle_s = 0.5
    ready_line = r"Capturing on"
    count_lines = {
        "captured": r"Packets captured: (\d+)",
        "received_by_filter": r"Packets received/dropped on interface .*: (\d+)/\d+",
        "dropped_by_kernel": r"Packets received/dropped on interface .*: \d+/(\d+)",
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pcapng = self.out_path.with_name(self.out_path.name + ".pcapng")

    def argv(self) -> list[str]:
        return ["dumpcap", "-n", "-i", self.iface, "-f", self.filter, "-s", str(self.snaplen), "-w", str(self._pcapng)]

    def _finish_file(self) -> None:
        self._to_nanosecond_pcap()

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
