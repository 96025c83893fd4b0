"""One connection of a bundle, as the raw files show it: its packets, calls, kernel events and app lines."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from tests.sentences.raw import ACK, FIN, RST, SYN, Bundle, KernelEvent, Packet, Syscall, endpoint, plain_ip

SIDES = ("client", "server")
NEAR_NS = 20_000_000  # kernel events belong to a RST when this close to it


def other(side: str) -> str:
    return "server" if side == "client" else "client"


def _app_end(text) -> tuple[str, int] | None:
    try:
        return endpoint(text) if isinstance(text, str) and ":" in text else None
    except ValueError:
        return None


@dataclass
class Conn:
    bundle: Bundle
    client: tuple[str, int]
    server: tuple[str, int]
    packets: list[Packet]

    @classmethod
    def of(cls, bundle: Bundle, flow: str) -> "Conn":
        """The connection of a flow id ``client>server`` (``#k``: the k-th one on that 4-tuple, split at SYNs)."""
        text, _, nth = flow.partition("#")
        client_text, server_text = text.split(">")
        client, server = endpoint(client_text), endpoint(server_text)
        ends = {client, server}
        mine = [p for p in bundle.packets if {p.src, p.dst} == ends]
        runs: list[list[Packet]] = []
        for p in mine:
            fresh_syn = p.has(SYN) and not p.has(ACK) and runs and any(q.has(FIN | RST) for q in runs[-1])
            if not runs or fresh_syn:
                runs.append([])
            runs[-1].append(p)
        index = int(nth) - 1 if nth else 0
        return cls(bundle, client, server, runs[index] if index < len(runs) else [])

    # -- the wire --
    @property
    def t0(self) -> int:
        return self.packets[0].ts_ns

    def t_rel(self, ts_ns: int) -> float:
        return (ts_ns - self.t0) / 1e9

    def side_of(self, p: Packet) -> str:
        return "client" if p.src == self.client else "server"

    def end(self, side: str) -> tuple[str, int]:
        return self.client if side == "client" else self.server

    def frame(self, number: int) -> Packet | None:
        return next((p for p in self.packets if p.frame == number), None)

    def by(self, side: str, flag: int = 0, after: int = -1, before: int | None = None) -> list[Packet]:
        """The side's packets (with ``flag``) between two frame numbers (exclusive)."""
        return [p for p in self.packets if self.side_of(p) == side and (not flag or p.has(flag))
                and p.frame > after and (before is None or p.frame < before)]

    def first(self, side: str | None, flag: int) -> Packet | None:
        found = [p for p in self.packets if p.has(flag) and (side is None or self.side_of(p) == side)]
        return found[0] if found else None

    def first_close(self, side: str) -> Packet | None:
        """The side's first FIN or RST."""
        found = [p for p in self.by(side) if p.has(FIN | RST)]
        return found[0] if found else None

    @cached_property
    def isn(self) -> dict[str, int]:
        out = {}
        for side in SIDES:
            syn = self.first(side, SYN)
            out[side] = syn.seq if syn else min((p.seq for p in self.by(side)), default=0)
        return out

    def seq_end(self, p: Packet) -> int:
        """Relative sequence number after the packet's payload (the SYN counts one)."""
        return (p.seq - self.isn[self.side_of(p)] + p.length) % 2**32

    def acked(self, p: Packet) -> int:
        return (p.ack - self.isn[other(self.side_of(p))]) % 2**32

    def payload(self, side: str, after: int = -1, before: int | None = None) -> int:
        """New payload bytes the side sent after frame ``after`` and before ``before`` (by sequence range:
        retransmissions count once)."""
        sent = [p for p in self.by(side, before=before) if p.length]
        if not sent:
            return 0
        start = min(self.seq_end(p) - p.length for p in sent)
        prior = [self.seq_end(p) for p in sent if p.frame <= after]
        return max(self.seq_end(p) for p in sent) - max([start, *prior])

    def max_ack(self, side: str, before: int, with_rst: bool = False) -> int | None:
        """The furthest the side acknowledged up to frame ``before`` (included): plain ACKs, and with ``with_rst``
        the acknowledgement field of its RST+ACK segments too."""
        acks = [self.acked(p) for p in self.by(side, before=before + 1) if p.has(ACK) and (with_rst or not p.has(RST))]
        return max(acks) if acks else None

    # -- the other sources, tied by endpoints --
    def side_of_local(self, local: tuple[str, int] | None) -> str | None:
        if local == self.client:
            return "client"
        return "server" if local == self.server else None

    @cached_property
    def syscalls(self) -> list[tuple[str, Syscall]]:
        """(side, call) of the traced calls on this connection (within its packets' time span, plus a second);
        without strace of it, the kernel's sock_send_length results of its sockets."""
        last = self.packets[-1].ts_ns + 2_000_000_000

        def mine(calls: list[Syscall]) -> list[tuple[str, Syscall]]:
            return [(side, c) for c in calls
                    if (side := self.side_of_local(c.local)) and {c.local, c.remote} == {self.client, self.server}
                    and self.t0 <= c.ts_ns <= last]
        return mine(self.bundle.syscalls) or mine(self.bundle.kernel_sends)

    def calls(self, side: str) -> list[Syscall]:
        return [c for s, c in self.syscalls if s == side]

    @cached_property
    def kernel(self) -> list[tuple[str, KernelEvent]]:
        """(side, event): the kernel events of this connection's sockets, by their ports and addresses."""
        out = []
        for e in self.bundle.kernel:
            f = e.fields
            if "src" in f and "dest" in f:  # tcp_send_reset
                local, remote = endpoint(f["src"]), endpoint(f["dest"])
            elif "sport" in f and "dport" in f:
                v6 = f.get("family") == "AF_INET6"
                local = (plain_ip(f.get("saddrv6" if v6 else "saddr", "")), int(f["sport"]))
                remote = (plain_ip(f.get("daddrv6" if v6 else "daddr", "")), int(f["dport"]))
            else:
                continue
            side = self.side_of_local(local)
            if side and remote == self.end(other(side)) and self.t0 - NEAR_NS <= e.ts_ns:
                out.append((side, e))
        return out

    def kernel_near(self, ts_ns: int, name: str, side: str | None = None) -> list[KernelEvent]:
        return [e for s, e in self.kernel if e.name == name and abs(e.ts_ns - ts_ns) <= NEAR_NS
                and (side is None or s == side)]

    @cached_property
    def app(self) -> list[tuple[str, dict]]:
        """(side, line) of the app.jsonl lines naming this connection (local/remote)."""
        out = []
        for event in self.bundle.app:
            local, remote = _app_end(event.get("local")), _app_end(event.get("remote"))
            side = self.side_of_local(local)
            if side and remote == self.end(other(side)):
                out.append((side, event))
        return out

    def app_of(self, side: str, event: str | None = None) -> list[dict]:
        return [e for s, e in self.app if s == side and (event is None or e.get("event") == event)]


#: a proxy closes its upstream connection at most this long after its client closed (the analyzer's window)
CHAIN_WINDOW_NS = 50_000_000


def connections(bundle: Bundle) -> list[Conn]:
    """Every connection of the capture, one per 4-tuple (first packet order; a reused 4-tuple is its first use)."""
    seen: dict[frozenset, tuple] = {}
    for p in bundle.packets:
        key = frozenset((p.src, p.dst))
        if key not in seen:  # the sender of a first SYN is the client; of a first SYN-ACK, the server
            seen[key] = (p.dst, p.src) if p.has(SYN) and p.has(ACK) else (p.src, p.dst)
    return [Conn.of(bundle, f"{_text(c)}>{_text(s)}") for c, s in seen.values()]


def _text(end: tuple[str, int]) -> str:
    return f"[{end[0]}]:{end[1]}" if ":" in end[0] else f"{end[0]}:{end[1]}"


def proxy_pair(bundle: Bundle, conn: Conn) -> tuple[Conn, Conn] | None:
    """(the client's connection to a proxy, the proxy's to its upstream) when ``conn`` is one of them: by the ports
    meta.json records for a bundle's proxy; in a bare capture, by addresses and timing: the upstream connection
    comes from the proxy's address, opens after the client's request and closes within the window after the
    client closed."""
    proxy_port, server_port = bundle.port("proxy"), bundle.port("server")
    everything = connections(bundle)
    if proxy_port:
        fronts = [c for c in everything if c.server[1] == proxy_port]
        backs = [c for c in everything if c.server[1] == server_port]
        pairs = [(f, b) for f in fronts for b in backs if b.client[0] == f.server[0]]
    else:
        pairs = [(f, b) for f in everything for b in everything if _chained(f, b)]
    return next(((f, b) for f, b in pairs if conn.client == f.client and conn.server == f.server
                 or conn.client == b.client and conn.server == b.server), None)


def _chained(front: Conn, back: Conn) -> bool:
    request = next((p for p in front.by("client") if p.length), None)
    closes = front.first_close("client"), back.first_close("client")
    if front is back or request is None or None in closes or back.client[0] != front.server[0] or back.server == front.server:
        return False
    return request.ts_ns < back.t0 <= closes[0].ts_ns and 0 < closes[1].ts_ns - closes[0].ts_ns <= CHAIN_WINDOW_NS
