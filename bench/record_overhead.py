"""What `abortscope record` costs the server it watches: requests/s and p99 latency under a bounded load.

    sudo .venv/bin/python bench/record_overhead.py [--requests 3000] [--threads 2] [--reps 3]
    -> bench/results/record_overhead.md

The server is the user's Go program of the record tests (tests/capture/record_servers/user_server.go,
answering at once with 8061 bytes), on 127.0.0.1. A load loop of ``--threads`` threads sends
``--requests`` requests in all (one connection each, as browsers and curl do; bounded by count and by
``--max-seconds``) while `abortscope record --pid` records with ``--syscalls none|kernel|strace``, and once
with no recording at all. Each leg runs ``--reps`` times; the median of the reps is reported.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from capture import procs  # noqa: E402
from tests.capture.record_servers.servers import build_go_server  # noqa: E402

ABORTSCOPE = Path(sys.executable).parent / "abortscope"
LEGS = ("not recorded", "none", "kernel", "strace")


def one_request(port: int) -> float:
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\nHost: bench\r\n\r\n")
        while sock.recv(65536):
            pass
    return time.perf_counter() - started


def load(port: int, requests: int, threads: int, max_seconds: float) -> tuple[float, list[float]]:
    """(requests/s, latencies) of ``requests`` requests over ``threads`` threads, stopped at ``max_seconds``."""
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + max_seconds
    per_thread = requests // threads

    def worker() -> None:
        for _ in range(per_thread):
            if time.monotonic() > deadline:
                return
            took = one_request(port)
            with lock:
                latencies.append(took)

    started = time.perf_counter()
    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return len(latencies) / (time.perf_counter() - started), latencies


def leg(program: Path, name: str, args) -> dict:
    port = procs.free_port()
    server = subprocess.Popen([str(program), f"127.0.0.1:{port}", "0s"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    record = None
    try:
        procs.wait_listening("127.0.0.1", port, owner=server.pid)
        if name != "not recorded":
            out = Path(tempfile.mkdtemp(prefix="abortscope-bench-record-"))
            record = subprocess.Popen([str(ABORTSCOPE), "record", "--pid", str(server.pid), "--out", str(out / "b"),
                                       "--syscalls", name, "--duration", str(args.max_seconds + 30)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
            while "recording:" not in record.stderr.readline():
                if record.poll() is not None:
                    raise RuntimeError(record.stderr.read())
        rate, latencies = load(port, args.requests, args.threads, args.max_seconds)
    finally:
        if record is not None:
            record.send_signal(signal.SIGINT)
            record.communicate(timeout=120)
        server.terminate()
        server.wait(10)
    latencies.sort()
    return {"requests": len(latencies), "rps": rate, "p50_ms": 1000 * latencies[len(latencies) // 2],
            "p99_ms": 1000 * latencies[int(len(latencies) * 0.99) - 1]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=60)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "record_overhead.md")
    args = parser.parse_args()
    program = build_go_server(Path(tempfile.mkdtemp(prefix="abortscope-bench-go-")))
    results = {}
    for name in LEGS:
        reps = [leg(program, name, args) for _ in range(args.reps)]
        results[name] = {key: statistics.median(r[key] for r in reps) for key in reps[0]}
        print(name, json.dumps(results[name]), flush=True)
    base = results["not recorded"]
    lines = [f"# `abortscope record` overhead ({args.requests} requests, {args.threads} threads, median of {args.reps})",
             "", "| recording | requests/s | vs not recorded | p50 ms | p99 ms |", "|---|---:|---:|---:|---:|"]
    for name, r in results.items():
        label = name if name == "not recorded" else f"`--syscalls {name}`"
        lines.append(f"| {label} | {r['rps']:.0f} | {100 * r['rps'] / base['rps']:.0f}% | {r['p50_ms']:.2f} | "
                     f"{r['p99_ms']:.2f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
