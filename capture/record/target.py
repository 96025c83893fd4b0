"""Which process is recorded, on which port, through which interface.

``--port P`` alone: the process listening on P (:func:`owner_of_port`) is the target.
``--pid PID``: the process and every process below it (nginx's master and its
workers) are the target; their listening TCP sockets are found through
/proc/PID/fd (socket inodes) and /proc/net/tcp{,6}, never by connecting.
Without ``--port`` the target must listen on exactly one port, which is then
used (and printed). The interface: ``lo`` when every listener of the port
is bound to a loopback address, else ``any`` (the port may be reached from
outside; ``any`` sees lo too).
"""

from __future__ import annotations

import ipaddress
import time
from pathlib import Path
from dataclasses import dataclass

from analysis.errors import AbortscopeError
from capture import procs
from capture.recorders.packets import LOOPBACK

ANY = "any"


class TargetError(AbortscopeError):
    """No such process, or no single port to record."""


@dataclass(frozen=True)
class Target:
    pid: int
    port: int
    #: the listening sockets of the port (``ip:port``), as /proc/net/tcp shows them
    listeners: tuple[str, ...]
    #: the target's processes when recording started (pid first)
    pids: tuple[int, ...]
    port_found: bool  # True when the port was not given but found

    @property
    def loopback_only(self) -> bool:
        return bool(self.listeners) and all(_is_loopback(addr) for addr in self.listeners)

    def default_iface(self) -> str:
        return LOOPBACK if self.loopback_only else ANY

    def describe(self) -> str:
        how = "found" if self.port_found else "given"
        return f"pid {self.pid} ({len(self.pids)} process{'es' if len(self.pids) != 1 else ''}), port {self.port} ({how}; listening on {', '.join(self.listeners) or 'nothing yet'})"


def _host(addr: str) -> str:
    return addr.rpartition(":")[0].strip("[]")


def _port(addr: str) -> int:
    return int(addr.rpartition(":")[2])


def _is_loopback(addr: str) -> bool:
    return ipaddress.ip_address(_host(addr)).is_loopback


def listening(pids: list[int]) -> list[procs.TcpSocket]:
    """The LISTEN sockets held by any of ``pids``."""
    inodes: set[int] = set()
    for pid in pids:
        inodes |= procs.socket_inodes(pid)
    return [s for s in procs.tcp_sockets() if s.state == procs.TCP_LISTEN and s.inode in inodes]


def find(pid: int, port: int | None) -> Target:
    """The target ``pid`` on ``port`` (None: its only listening port). TargetError says what is wrong."""
    if not procs.is_running(pid):
        raise TargetError(f"no running process with pid {pid}")
    pids = procs.descendants(pid)
    sockets = listening(pids)
    ports = sorted({_port(s.local) for s in sockets})
    found = port is None
    if port is None:
        if len(ports) != 1:
            listed = ", ".join(map(str, ports)) or "none"
            raise TargetError(f"pid {pid} listens on {len(ports)} TCP ports ({listed}): name one with --port")
        port = ports[0]
    listeners = tuple(sorted({s.local for s in sockets if _port(s.local) == port}))
    return Target(pid=pid, port=port, listeners=listeners, pids=tuple(pids), port_found=found)


def owner_of_port(port: int) -> int:
    """The process listening on ``port``: of those holding its listening socket, the one whose parent does not
    (nginx's master, not its workers). TargetError when none, or several unrelated ones, do."""
    inodes = {s.inode for s in procs.tcp_sockets() if s.state == procs.TCP_LISTEN and _port(s.local) == port}
    if not inodes:
        raise TargetError(f"nothing listens on TCP port {port}")
    holders = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and procs.socket_inodes(int(entry.name)) & inodes:
            holders.add(int(entry.name))
    tops = sorted(pid for pid in holders if _parent(pid) not in holders)
    if len(tops) != 1:
        raise TargetError(f"TCP port {port} is held by {len(tops)} unrelated processes ({tops or 'none visible'}): "
                          "name one with --pid")
    return tops[0]


def _parent(pid: int) -> int:
    return int(procs.proc_status(pid).get("PPid", "0"))


def wait_listening(pid: int, port: int | None, timeout_s: float) -> Target:
    """After starting a command: wait until it (or a child of it) listens (on ``port``, or on exactly one port)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if not procs.is_running(pid):
            raise TargetError(f"the command (pid {pid}) exited before it listened on a TCP port")
        ports = {_port(s.local) for s in listening(procs.descendants(pid))}
        if (port is None and len(ports) == 1) or (port is not None and port in ports):
            return find(pid, port)
        if time.monotonic() > deadline:
            wanted = f"port {port}" if port else "one TCP port"
            raise TargetError(f"the command (pid {pid}) did not listen on {wanted} within {timeout_s:g} s "
                              f"(it listens on {sorted(ports) or 'nothing'})")
        time.sleep(0.02)
