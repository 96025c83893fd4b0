"""The kernel's TCP tracepoints through tracefs, kept to this run's connections.

Where: a tracefs reached only through our own descriptor
(:mod:`capture.recorders.tracefs_mount`), in instances of our own
(``instances/abortscope-PID-PORT[-sends]``); the global trace buffer and the
system's tracefs mount are never touched. While the run lasts we hold one
file of each instance open, so nobody can remove it under us (rmdir says
EBUSY); at drain each instance's ``trace`` is read, the events are merged in
time order into kernel.txt, and the instances are removed in any case.

Which events are this run's (two concurrent runs, or a sweep's parallel
probes, must never see each other's), per tracepoint (:data:`EVENTS`, over
the analyzer's tracepoints, ``analysis.events.kernel.TRACEPOINTS``):

- events with port fields: a kernel filter ``sport == PORT || dport == PORT``;
- ``tcp_send_reset``: on 6.x its addresses are sockaddr bytes, which a filter
  cannot read, so every reset is traced and the lines whose printed
  ``src``/``dest`` do not carry the port are dropped before kernel.txt is
  written (``status["dropped_lines"]`` counts them);
- ``sock_send_length`` (no address at all): a second instance traces only the
  server's threads (``set_event_pid`` + ``options/event-fork``, so threads it
  starts later are followed); the analyzer ties them to a connection through
  the strace write of the same thread.

Clock: trace_clock "boot" (CLOCK_BOOTTIME, which keeps counting in suspend).
We measure CLOCK_REALTIME - CLOCK_BOOTTIME several times and keep the
tightest bracket; meta["clocks"]["trace_to_realtime_ns"] added to a trace
timestamp gives epoch ns. The text output has microsecond resolution.

Status: ``ran`` is true only when kernel.txt holds what the instances
recorded; a trace that could not be read says so in ``why`` (and no
kernel.txt is written), a removal that failed in ``instance_removed``.
"""

from __future__ import annotations

import os
import re
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from analysis.events.kernel import TRACEPOINTS, Tracepoint
from analysis.schema import EventKind
from capture.interrupts import deferred
from capture.recorders.base import Recorder, RecorderError, ports_of
from capture.recorders.socket_map import SocketMap
from capture.recorders.tracefs_mount import INSTANCE_PREFIX, remove_instance, remove_stale_instances, tracefs_root, write

TRACE_CLOCK = "boot"
PORT_FILTER = "sport == {port} || dport == {port}"
CONNECTIONS, SERVER_THREADS, SOCKETS = "connections", "sends", "sockets"


@dataclass(frozen=True)
class Keep:
    """How one tracepoint is kept to this run: its tracefs system, kernel filter, instance, text filter."""

    system: str
    kernel_filter: str | None
    instance: str = CONNECTIONS
    by_printed_port: bool = False  #: drop lines whose printed ports are not the run's


def _keep(tp: Tracepoint) -> Keep:
    """How a tracepoint is kept to this run, from how it names its connection (module docstring)."""
    if tp.local is None:  # no address at all: the server's threads only
        return Keep(tp.system, "protocol == 6", instance=SERVER_THREADS)
    if isinstance(tp.local, str):  # printed sockaddr bytes, which a kernel filter cannot read
        return Keep(tp.system, None, by_printed_port=True)
    return Keep(tp.system, PORT_FILTER)


#: Every tracepoint the analyzer reads is recorded, and only those.
EVENTS: dict[str, Keep] = {name: _keep(tp) for name, tp in TRACEPOINTS.items()}


def _printed_port_pattern() -> re.Pattern:
    """Ports as the analyzer's tracepoints print them: ``sport=N``/``dport=N`` fields, or ``src=IP:N`` addresses."""
    port_fields, addr_fields = set(), set()
    for tp in TRACEPOINTS.values():
        for end in (tp.local, tp.remote):
            if isinstance(end, tuple):
                port_fields.add(end[1])
            elif end:
                addr_fields.add(end)
    return re.compile(rf"\b(?:(?:{'|'.join(sorted(port_fields))})=|(?:{'|'.join(sorted(addr_fields))})=\S*:)(\d+)\b")


PRINTED_PORT = _printed_port_pattern()
EVENT_LINE = re.compile(r"\s(\d+\.\d+):\s+(\w+):\s")


def port_filter(template: str, ports: int | tuple[int, ...]) -> str:
    """The template filled for one port, or or-ed over several (a proxy and its server)."""
    return " || ".join(template.format(port=port) for port in ports_of(ports))


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


def keep_lines(text: str, port: int | tuple[int, ...]) -> tuple[list[tuple[float, str]], int]:
    """(event lines of this run with their trace time, lines dropped) from one instance's ``trace``."""
    kept, dropped, ports = [], 0, {str(p) for p in ports_of(port)}
    for line in text.splitlines():
        event = EVENT_LINE.search(line)
        if event is None:
            continue
        rule = EVENTS.get(event.group(2))
        if rule is not None and rule.by_printed_port and ports.isdisjoint(PRINTED_PORT.findall(line)):
            dropped += 1
            continue
        kept.append((float(event.group(1)), line))
    return kept, dropped


class TracefsRecorder(Recorder):
    name = "kernel"

    def __init__(self, port: int | tuple[int, ...], out_path: Path, server_pid: int | None = None,
                 also_pids: tuple[int, ...] = (), socket_addresses: bool = False) -> None:
        """``port``: the server's, and a proxy's in front of it; ``socket_addresses``: tie the server's sends to their
        sockets without strace (capture.recorders.socket_map)."""
        super().__init__()
        self.ports = ports_of(port)
        self.socket_map = SocketMap(self.ports[0]) if socket_addresses and server_pid else None
        self.server_pid = server_pid
        self.server_pids = ([server_pid] if server_pid else []) + [p for p in also_pids if p != server_pid]
        self.out_path = Path(out_path)
        self.name_base = f"{INSTANCE_PREFIX}{os.getpid()}-{self.ports[0]}"
        self.instances: dict[str, Path] = {}
        self.clocks: dict = {}
        self._stack = ExitStack()
        self._held: list[int] = []
        self._ready = False
        self.status.update(file=self.out_path.name, instance=self.name_base, events={})

    def _start(self) -> None:
        try:
            root, how = self._stack.enter_context(tracefs_root())
        except OSError as exc:
            raise RecorderError(str(exc)) from exc
        self.status["tracefs"] = how
        self.status["stale_instances_removed"] = remove_stale_instances(root)
        try:
            for role in [CONNECTIONS] + ([SERVER_THREADS] if self.server_pid else []) + ([SOCKETS] if self.socket_map else []):
                self._create(root, role)
            if self.socket_map:
                self._map_sockets()
            for event, rule in EVENTS.items():
                self.status["events"][f"{rule.system}/{event}"] = self._enable(event, rule)
            if self.server_pid:
                self._trace_only_the_server(self.instances[SERVER_THREADS])
            offset_ns, uncertainty_ns = measure_trace_offset()
            self.clocks = {"trace_clock": TRACE_CLOCK, "trace_to_realtime_ns": offset_ns, "uncertainty_ns": uncertainty_ns}
            for instance in self.instances.values():
                write(instance / "tracing_on", "1")
        except OSError as exc:
            raise RecorderError(f"cannot set up tracefs instance {self.name_base}: {exc}") from exc
        self._ready = True

    def _create(self, root: Path, role: str) -> None:
        instance = root / "instances" / (self.name_base + ("" if role == CONNECTIONS else f"-{role}"))
        with deferred():  # created and remembered (so removed at the end), or not created
            instance.mkdir()
            self.instances[role] = instance
        # held open for the whole run: while it is, nobody can remove the instance (EBUSY)
        self._held.append(os.open(instance / "tracing_on", os.O_RDONLY | os.O_CLOEXEC))
        write(instance / "tracing_on", "0")
        write(instance / "trace_clock", TRACE_CLOCK)

    def _enable(self, event: str, rule: Keep) -> str:
        instance = self.instances.get(rule.instance)
        if instance is None:
            return "not recorded: no server pid to trace"
        directory = instance / "events" / rule.system / event
        if not directory.is_dir():
            return "not in this kernel"
        kernel_filter = port_filter(rule.kernel_filter, self.ports) if rule.kernel_filter else None
        if kernel_filter:
            write(directory / "filter", kernel_filter)
        write(directory / "enable", "1")
        kept = kernel_filter or "all"
        if rule.by_printed_port:
            kept += f", lines without port {' or '.join(map(str, self.ports))} dropped"
        if rule.instance == SERVER_THREADS:
            kept += f", threads of pid {self.server_pid} only"
        return kept

    def _map_sockets(self) -> None:
        write(self.instances[SERVER_THREADS] / "options" / "hash-ptr", "0")  # matched with skaddr, then hidden
        sockets = self.instances[SOCKETS]
        write(sockets / "options" / "fields", "1")
        write(sockets / "options" / "hash-ptr", "0")
        name, tracepoint = next((n, t) for n, t in TRACEPOINTS.items() if t.kind is EventKind.STATE)  # the state changes
        state = sockets / "events" / tracepoint.system / name
        write(state / "filter", PORT_FILTER.format(port=self.ports[0]))
        write(state / "enable", "1")
        self.status["socket_addresses"] = "sock_send_length tied by socket address (tracefs instance -sockets)"

    def _trace_only_the_server(self, instance: Path) -> None:
        threads = [t.name for pid in self.server_pids for t in Path(f"/proc/{pid}/task").iterdir()]
        write(instance / "options" / "event-fork", "1")  # threads the server starts later are traced too
        write(instance / "set_event_pid", " ".join(threads))

    def _stop(self) -> None:
        try:
            if self._ready:
                self._drain()
        finally:
            self._remove()

    def _drain(self) -> None:
        lines: list[tuple[float, str]] = []
        dropped, overrun = 0, 0
        try:
            for role, instance in self.instances.items():
                write(instance / "tracing_on", "0")
                text = (instance / "trace").read_text(errors="replace")
                if role == SOCKETS:
                    self.socket_map.learn(text)
                    continue
                if self.socket_map is not None:
                    text = "\n".join(map(self.socket_map.hide, text.splitlines()))
                kept, gone = keep_lines(text, self.ports)
                lines += kept
                dropped += gone
                overrun += _overrun(instance) or 0
        except OSError as exc:  # the instance's files went away: say so, write nothing half-read
            self.status.update(ran=False, why=f"the tracing instance could not be read at the end of the run: {exc}")
            return
        lines.sort(key=lambda item: item[0])
        header = f"# tracer: nop\n# abortscope: events of port {' '.join(map(str, self.ports))} from {', '.join(i.name for i in self.instances.values())}\n"
        if self.socket_map is not None:
            header += "".join(line + "\n" for line in self.socket_map.lines())
        self.out_path.write_text(header + "".join(line + "\n" for _, line in lines))
        self.status.update(events_recorded=len(lines), dropped_lines=dropped, overrun=overrun)

    def _remove(self) -> None:
        while self._held:
            os.close(self._held.pop())
        removed = {instance.name: remove_instance(instance) for instance in self.instances.values()}
        if removed:
            self.status["instance_removed"] = all(removed.values())
        if not all(removed.values()):
            self.status["warning"] = f"tracefs instances left behind: {[n for n, ok in removed.items() if not ok]}"
        self._stack.close()


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
