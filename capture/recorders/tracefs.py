"""The kernel's TCP tracepoints through tracefs, in a private instance.

We never touch the global trace buffer: we create our own tracefs instance
(instances/abortscope-PID-PORT), enable the events there, read its `trace`
file at drain into kernel.txt, and remove it in any case. If tracefs was not
mounted we mount it and unmount it afterwards: tracing is left as found.

Clock: the instance uses trace_clock "boot" (CLOCK_BOOTTIME, which keeps
counting in suspend). We measure CLOCK_REALTIME - CLOCK_BOOTTIME several times
and keep the tightest bracket; meta["clocks"]["trace_to_realtime_ns"] added to
a trace timestamp gives epoch ns. The text output has microsecond resolution.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from capture.recorders.base import Recorder, RecorderError

TRACEFS = Path("/sys/kernel/tracing")
TRACE_CLOCK = "boot"

#: event -> filter template ({port}); events without port fields are filtered by protocol only,
#: tcp_send_reset (no port field, its addresses are sockaddr bytes) is not filtered.
EVENTS: dict[str, str | None] = {
    "tcp/tcp_send_reset": None,
    "tcp/tcp_receive_reset": "sport == {port} || dport == {port}",
    "sock/inet_sock_set_state": "sport == {port} || dport == {port}",
    "sock/inet_sk_error_report": "sport == {port} || dport == {port}",
    "sock/sock_send_length": "protocol == 6",
}


def port_filter(template: str, ports: int | tuple[int, ...]) -> str:
    """The template filled for one port, or or-ed over several (a proxy and its server)."""
    ports = (ports,) if isinstance(ports, int) else tuple(ports)
    return " || ".join(template.format(port=port) for port in ports)


def measure_trace_offset(samples: int = 9) -> tuple[int, int]:
    """(CLOCK_REALTIME - CLOCK_BOOTTIME in ns, uncertainty in ns), tightest of `samples` brackets."""
    best: tuple[int, int] | None = None
    for _ in range(samples):
        before = time.clock_gettime_ns(time.CLOCK_REALTIME)
        boot = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        after = time.clock_gettime_ns(time.CLOCK_REALTIME)
        half_window = (after - before) // 2
        if best is None or half_window < best[1]:
            best = ((before + after) // 2 - boot, half_window)
    assert best is not None
    return best


class TracefsRecorder(Recorder):
    name = "kernel"

    def __init__(self, port: int | tuple[int, ...], out_path: Path, root: Path = TRACEFS) -> None:
        super().__init__()
        self.port = port
        self.out_path = Path(out_path)
        self.root = Path(root)
        first_port = port if isinstance(port, int) else port[0]
        self.instance = self.root / "instances" / f"abortscope-{os.getpid()}-{first_port}"
        self._mounted_by_us = False
        self.clocks: dict = {}
        self.status.update(file=self.out_path.name, instance=self.instance.name, events={})

    def _write(self, relative: str, value: str) -> None:
        (self.instance / relative).write_text(value)

    def _mount(self) -> None:
        if (self.root / "instances").is_dir():
            return
        done = subprocess.run(["mount", "-t", "tracefs", "nodev", str(self.root)], capture_output=True, text=True)
        if done.returncode != 0 or not (self.root / "instances").is_dir():
            raise RecorderError(f"cannot mount tracefs at {self.root}: {done.stderr.strip() or 'no instances dir'}")
        self._mounted_by_us = True
        self.status["mounted_tracefs"] = True

    def _start(self) -> None:
        self._mount()
        try:
            self.instance.mkdir()
        except OSError as exc:
            raise RecorderError(f"cannot create tracefs instance {self.instance}: {exc}") from exc
        self._write("tracing_on", "0")
        self._write("trace_clock", TRACE_CLOCK)
        for event, template in EVENTS.items():
            if not (self.instance / "events" / event).is_dir():
                self.status["events"][event] = "not in this kernel"
                continue
            rule = port_filter(template, self.port) if template else "all"
            if template:
                self._write(f"events/{event}/filter", rule)
            self._write(f"events/{event}/enable", "1")
            self.status["events"][event] = rule
        offset_ns, uncertainty_ns = measure_trace_offset()
        self.clocks = {"trace_clock": TRACE_CLOCK, "trace_to_realtime_ns": offset_ns, "uncertainty_ns": uncertainty_ns}
        self._write("tracing_on", "1")

    def _stop(self) -> None:
        try:
            if self.instance.is_dir():
                self._write("tracing_on", "0")
                text = (self.instance / "trace").read_text(errors="replace")
                self.out_path.write_text(text)
                self.status["events_recorded"] = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
                self.status["overrun"] = _overrun(self.instance)
        finally:
            self.remove()

    def remove(self) -> None:
        """Disable our events and remove the instance (and tracefs if we mounted it). Idempotent."""
        if self.instance.is_dir():
            for event in EVENTS:
                enable = self.instance / "events" / event / "enable"
                if enable.exists():
                    enable.write_text("0")
            # rmdir of an instance is allowed while it has files: tracefs removes them with it
            for _ in range(20):
                try:
                    self.instance.rmdir()
                    break
                except OSError:  # EBUSY while a reader still holds a file open
                    time.sleep(0.05)
            self.status["instance_removed"] = not self.instance.exists()
        if self._mounted_by_us:
            subprocess.run(["umount", str(self.root)], capture_output=True)
            self._mounted_by_us = False


def _overrun(instance: Path) -> int | None:
    """Events lost because the ring buffer was full (sum over CPUs)."""
    total = 0
    per_cpu = instance / "per_cpu"
    if not per_cpu.is_dir():
        return None
    for stats in per_cpu.glob("cpu*/stats"):
        for line in stats.read_text().splitlines():
            if line.startswith("overrun:"):
                total += int(line.split()[1])
    return total
