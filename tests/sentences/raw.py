"""A run bundle's raw files, read without the analyzer: tshark for the packets, plain parsing for the rest."""

from __future__ import annotations

import errno as errnos
import json
import re
import subprocess
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
TSHARK_FIELDS = ("frame.number", "frame.time_epoch", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "tcp.srcport",
                 "tcp.dstport", "tcp.flags", "tcp.seq_raw", "tcp.ack_raw", "tcp.len", "tcp.window_size_value")
#: errnos that mean "try again", not a failure of the connection
TRANSIENT = {"EAGAIN", "EWOULDBLOCK", "EINTR", "EINPROGRESS"}
WRITE_CALLS = {"write", "writev", "send", "sendto", "sendmsg", "sendmmsg", "pwrite64", "sock_send_length"}
READ_CALLS = {"read", "readv", "recv", "recvfrom", "recvmsg", "recvmmsg", "pread64"}


def seconds_to_ns(text: str) -> int:
    """"1796420936.387704" (any number of decimals) -> ns, exactly."""
    whole, _, frac = text.strip().partition(".")
    return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9])


def plain_ip(ip: str) -> str:
    ip = ip.strip("[]")
    return ip[7:] if ip.startswith("::ffff:") and "." in ip else ip


def endpoint(text: str) -> tuple[str, int]:
    """"1.2.3.4:80" / "[::1]:80" -> (ip, port)."""
    host, _, port = text.rpartition(":")
    return plain_ip(host), int(port)


@dataclass(frozen=True)
class Packet:
    frame: int
    ts_ns: int
    src: tuple[str, int]
    dst: tuple[str, int]
    flags: int
    seq: int
    ack: int
    length: int
    win: int

    def has(self, flag: int) -> bool:
        return bool(self.flags & flag)


@dataclass(frozen=True)
class Syscall:
    pid: int
    ts_ns: int
    name: str
    local: tuple[str, int] | None
    remote: tuple[str, int] | None
    args: str
    ret: int | None
    errno: str | None

    @property
    def failed(self) -> bool:
        return self.errno is not None and self.errno not in TRANSIENT

    @property
    def is_write(self) -> bool:
        return self.name in WRITE_CALLS

    @property
    def count(self) -> str | None:
        """The last argument (the byte count a read/write asked for), as text."""
        match = re.search(r",\s*(\d+)\s*$", self.args)
        return match.group(1) if match else None


@dataclass(frozen=True)
class KernelEvent:
    ts_ns: int
    name: str
    fields: dict[str, str]


_STRACE = re.compile(r"^\s*(?:\[pid\s+(\d+)\]\s+|(\d+)\s+)?(\d+\.\d+)\s+(.*?)\s*$")
_CALL = re.compile(r"^(\w+)\((.*)\)\s+=\s+(-?\d+|\?)(?:<[^>]*>)?(?:\s+(E[A-Z0-9]+)\s+\([^)]*\))?.*?(?:<\d+\.\d+>)?$")
_SOCKET = re.compile(r"^\s*\d+<TCP(?:v6)?:\[((?:\[[^\]]*\]|[^:\[\]>-]+):\d+)->((?:\[[^\]]*\]|[^:\[\]>-]+):\d+)\]>")
_KERNEL = re.compile(r"^\s*.+?\s+\[\d+\]\s+\S+\s+(\d+\.\d+):\s+(\w+):\s*(.*)$")


def parse_strace(text: str) -> list[Syscall]:
    calls, pending = [], {}
    for line in text.splitlines():
        match = _STRACE.match(line)
        if not match:
            continue
        pid, ts, rest = int(match.group(1) or match.group(2) or 0), seconds_to_ns(match.group(3)), match.group(4)
        if rest.endswith("<unfinished ...>"):
            pending[pid] = (ts, rest[: -len("<unfinished ...>")])
            continue
        resumed = re.match(r"^<\.\.\.\s+(\w+)\s+resumed>\s?(.*)$", rest)
        if resumed and pid in pending:
            ts, head = pending.pop(pid)
            rest = head + resumed.group(2)
        call = _CALL.match(rest)
        if not call:
            continue
        name, args, ret, errno = call.groups()
        socket = _SOCKET.match(args)
        calls.append(Syscall(pid, ts, name, endpoint(socket.group(1)) if socket else None,
                             endpoint(socket.group(2)) if socket else None, args,
                             None if ret == "?" else int(ret), errno))
    return calls


def parse_kernel(text: str, offset_ns: int) -> list[KernelEvent]:
    events = []
    for line in text.splitlines():
        match = _KERNEL.match(line)
        if not match or line.startswith("#"):
            continue
        ts, name, rest = match.groups()
        fields = dict(re.findall(r"(\w+)=(\S+)", rest))
        events.append(KernelEvent(seconds_to_ns(ts) + offset_ns, name, fields))
    return events


#: `record --syscalls kernel` names each socket whose sends tracefs reports: ``# abortscope: socket TOKEN local= remote=``
_SOCKET_NAME = re.compile(r"^# abortscope: socket (\S+) local=(\S+) remote=(\S+)$", re.M)
_SEND = re.compile(r"^\s*.+?-(\d+)\s+.*?\s(\d+\.\d+):\s+sock_send_length:\s+sk address = (\S+),.*?length = (-?\d+), "
                   r"error = (-?\d+)")


def parse_kernel_sends(text: str, offset_ns: int) -> list[Syscall]:
    """The kernel's sock_send_length results of the sockets the trace names, as calls named ``sock_send_length``
    (the errno from ``error``, the endpoints from the socket's name line)."""
    named = {token: (endpoint(local), endpoint(remote)) for token, local, remote in _SOCKET_NAME.findall(text)}
    sends = []
    for pid, ts, token, length, error in (m.groups() for m in map(_SEND.match, text.splitlines()) if m):
        if token in named:
            code = abs(int(error))
            sends.append(Syscall(int(pid), seconds_to_ns(ts) + offset_ns, "sock_send_length", *named[token], "",
                                 int(length) if not code else -1, errnos.errorcode.get(code) if code else None))
    return sends


def parse_tshark(pcap: Path) -> list[Packet]:
    cmd = ["tshark", "-n", "-r", str(pcap), "-Y", "tcp", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f",
           *(x for name in TSHARK_FIELDS for x in ("-e", name))]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0 and not done.stdout:  # a capture cut short: tshark prints what it read, exits 2
        raise RuntimeError(f"tshark could not read {pcap}: {done.stderr.strip()}")
    out = done.stdout
    packets = []
    for line in out.splitlines():
        (frame, ts, ip4s, ip6s, ip4d, ip6d, sport, dport, flags, seq, ack, length, win) = line.split("\t")
        packets.append(Packet(int(frame), seconds_to_ns(ts), (plain_ip(ip4s or ip6s), int(sport)),
                              (plain_ip(ip4d or ip6d), int(dport)), int(flags, 16), int(seq), int(ack or 0),
                              int(length or 0), int(win or 0)))
    return packets


@dataclass
class Bundle:
    """The raw files of one run bundle (or a bare capture: only the packets)."""

    root: Path
    pcap: Path = field(init=False)

    def __post_init__(self):
        self.root = Path(self.root)
        self.pcap = self.root / "capture.pcap" if self.root.is_dir() else self.root

    @cached_property
    def meta(self) -> dict:
        path = self.root / "meta.json"
        return json.loads(path.read_text()) if self.root.is_dir() and path.is_file() else {}

    @cached_property
    def packets(self) -> list[Packet]:
        return parse_tshark(self.pcap)

    @cached_property
    def syscalls(self) -> list[Syscall]:
        path = self.root / "strace.txt"
        return parse_strace(path.read_text(errors="replace")) if self.root.is_dir() and path.is_file() else []

    @cached_property
    def _kernel_text(self) -> tuple[str, int]:
        """kernel.txt and its clock offset ("" when the bundle has none)."""
        path = self.root / "kernel.txt"
        if not (self.root.is_dir() and path.is_file()):
            return "", 0
        return path.read_text(errors="replace"), int((self.meta.get("clocks") or {}).get("trace_to_realtime_ns") or 0)

    @cached_property
    def kernel(self) -> list[KernelEvent]:
        return parse_kernel(*self._kernel_text)

    @cached_property
    def kernel_sends(self) -> list[Syscall]:
        return parse_kernel_sends(*self._kernel_text)

    @cached_property
    def app(self) -> list[dict]:
        path = self.root / "app.jsonl"
        if not (self.root.is_dir() and path.is_file()):
            return []
        events = []
        for line in path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict) and isinstance(event.get("ts_ns"), int):
                events.append(event)
        return events

    def impl(self, role: str) -> str | None:
        part = self.meta.get(role)
        return part.get("impl") if isinstance(part, dict) else None

    def port(self, role: str) -> int | None:
        part = self.meta.get(role)
        return part.get("port") if isinstance(part, dict) else None
