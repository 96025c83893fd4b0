"""Literal inputs for the sweep's tests: the search driven by answers, and a bundle of the seed run's lines."""

from __future__ import annotations

from pathlib import Path

from capture.sweep.bisect import Threshold, search
from capture.sweep.facts import ProbeFacts


def run_search(lo: int, hi: int, answer, fanout: int = 1) -> tuple[Threshold, list[list[int]]]:
    """Drive the search with ``answer(size) -> app error?``; returns the result and the batches asked."""
    steps, asked = search(lo, hi, fanout=fanout), []
    sizes = next(steps)
    while True:
        asked.append(sizes)
        try:
            sizes = steps.send({n: ProbeFacts(size=n, app_error=answer(n)) for n in sizes})
        except StopIteration as done:
            return done.value, asked


SERVER, CLIENT = 53227, 39144
T0 = 1795473681.489
STRACE = f"""\
29003 {T0 + 0.001:.6f} read(4<TCP:[127.0.0.1:{SERVER}->127.0.0.1:{CLIENT}]>, "GET / HTTP/1.1\\r\\nHost: 127.0.0.1:"..., 4096) = 79 <0.000037>
29000 {T0 + 0.002:.6f} read(4<TCP:[127.0.0.1:{SERVER}->127.0.0.1:{CLIENT}]>, 0xc00008cee1, 1) = -1 EAGAIN (Resource temporarily unavailable) <0.000021>
29003 {T0 + 0.202:.6f} write(4<TCP:[127.0.0.1:{SERVER}->127.0.0.1:{CLIENT}]>, "HTTP/1.1 200 OK\\r\\nDate: Mon, 23 N"..., 4096) = 4096 <0.000146>
29003 {T0 + 0.203:.6f} write(4<TCP:[127.0.0.1:{SERVER}->127.0.0.1:{CLIENT}]>, "\\0\\0\\0\\0"..., 4096) = -1 EPIPE (Broken pipe) <0.000017>
29003 {T0 + 0.204:.6f} write(1</tmp/app.jsonl>, "{{\\"ts_ns\\":1795473681692393690,\\"ac"..., 282) = 282 <0.000009>
"""  # fmt: skip


def literal_bundle(root: Path) -> Path:
    import json

    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    root.mkdir()
    ns = lambda s: int((T0 + s) * 1e9)  # noqa: E731
    app = [{"ts_ns": ns(0.2035), "actor": "server", "event": "write_error", "asked": 8061, "written": 8061,
            "error": "write tcp 127.0.0.1:53227->127.0.0.1:39144: write: broken pipe", "errno": "EPIPE"},
           {"ts_ns": ns(0.205), "actor": "server", "event": "response", "detail": "handler returned"},
           {"ts_ns": ns(0.05), "actor": "client", "event": "abort"}]  # fmt: skip
    (root / "app.jsonl").write_text("".join(json.dumps(e) + "\n" for e in app))
    (root / "strace.txt").write_text(STRACE)
    (root / "meta.json").write_text(json.dumps({"scenario": {"size": 8061}, "server": {"port": SERVER}}))
    ip = IP(src="127.0.0.1", dst="127.0.0.1")
    ladder = [  # (seconds after T0, from the client?, flags, payload bytes)
        (0.0, True, "S", 0), (0.0, False, "SA", 0), (0.0, True, "A", 0), (0.0005, True, "PA", 79),
        (0.05, True, "FA", 0), (0.2025, False, "PA", 4096), (0.2026, True, "R", 0),
    ]  # fmt: skip
    packets = []
    for at, from_client, flags, size in ladder:
        sport, dport = (CLIENT, SERVER) if from_client else (SERVER, CLIENT)
        packet = Ether() / ip / TCP(sport=sport, dport=dport, flags=flags) / (b"\0" * size)
        packet.time = T0 + at
        packets.append(packet)
    wrpcap(str(root / "capture.pcap"), packets)
    return root
