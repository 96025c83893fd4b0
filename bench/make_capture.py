"""Make the benchmark capture: real HTTP traffic with aborts on loopback, taken by tcpdump.

    sudo .venv/bin/python bench/make_capture.py                 # ~1,000,000 packets -> bench/out/big.pcap
    sudo .venv/bin/python bench/make_capture.py --packets 200000 --out /tmp/small.pcap
    .venv/bin/python bench/make_capture.py --scale 5            # bench/out/big.x5.pcap from big.pcap

The traffic comes from bench/loadgen/main.go (built with `go build`): a Go
net/http server on 127.0.0.1 and ::1 and client goroutines that complete, close
early with FIN, or close early with RST (SO_LINGER 0), over a mix of response
sizes (loopback carries up to 64 KiB per segment). tcpdump stops at --packets;
the load generator stops at --seconds or at its connection bound, whichever
comes first. A JSON sidecar (FILE.json) records how the file was made.

`--scale K` needs no root: it concatenates K copies of an existing capture, each
shifted later in time, to check that K times the packets takes K times as long.
Capturing needs root (tcpdump on lo): run with sudo.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pcap_records

BENCH_DIR = Path(__file__).resolve().parent
LOADGEN_SOURCE = BENCH_DIR / "loadgen" / "main.go"
DEFAULT_OUT = BENCH_DIR / "out" / "big.pcap"
#: tcpdump kernel buffer (KiB). Large, so that bursts of 64 KiB segments are not dropped.
TCPDUMP_BUFFER_KIB = 262144
#: a connection makes at least this many packets (SYN, SYN-ACK, ACK, request, response, FIN/RST).
MIN_PACKETS_PER_CONNECTION = 5
#: what to install when a tool is missing (Debian package names).
TOOL_PACKAGES = {"tcpdump": "tcpdump", "go": "golang-go"}


class CaptureError(RuntimeError):
    pass


def sidecar_path(pcap: Path) -> Path:
    return pcap.with_name(pcap.name + ".json")


def require_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        packages = " ".join(TOOL_PACKAGES.get(t, t) for t in missing)
        raise CaptureError(f"missing tool(s): {', '.join(missing)}; install with: sudo apt-get install {packages}")


def require_root() -> None:
    if os.geteuid() != 0:
        raise CaptureError(
            "capturing on the loopback interface needs root (tcpdump -i lo): "
            f"run with sudo, e.g. sudo {sys.executable} {' '.join(sys.argv)}"
        )


def require_free_port(port: int) -> None:
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Go's listener: TIME_WAIT is no conflict
            try:
                s.bind((host, port))
            except OSError as exc:
                raise CaptureError(f"port {port} on {host} is busy ({exc}); choose another with --port") from exc


def build_loadgen(out_dir: Path) -> Path:
    binary = out_dir / "loadgen"
    if binary.exists() and binary.stat().st_mtime >= LOADGEN_SOURCE.stat().st_mtime:
        return binary
    env = dict(os.environ, GO111MODULE="off", CGO_ENABLED="0")
    proc = subprocess.run(
        ["go", "build", "-o", str(binary), str(LOADGEN_SOURCE)], env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise CaptureError(f"go build of {LOADGEN_SOURCE} failed:\n{proc.stderr}")
    return binary


class LineCollector:
    """Reads a pipe in a thread so that neither child blocks on a full pipe."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self._thread.start()

    def _run(self, stream) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, needle: str, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(needle in line for line in self.lines):
                return True
            time.sleep(0.05)
        return False

    def join(self, timeout_s: float = 5) -> None:
        self._thread.join(timeout_s)


def _tcpdump_counts(lines: list[str]) -> dict[str, int]:
    """'N packets captured' / 'received by filter' / 'dropped by kernel' from tcpdump's stderr."""
    counts = {}
    for line in lines:
        for key in ("captured", "received by filter", "dropped by kernel"):
            if line.endswith(key) and line.split()[0].isdigit():
                counts[key.replace(" ", "_")] = int(line.split()[0])
    return counts


def _stop(proc: subprocess.Popen, sig: int, grace_s: float) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def capture(args: argparse.Namespace) -> dict:
    require_root()
    require_tools("tcpdump", "go")
    require_free_port(args.port)
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    loadgen = build_loadgen(BENCH_DIR / "out")
    out.unlink(missing_ok=True)

    tcpdump_cmd = [
        "tcpdump", "-i", "lo", "-s", "0", "--time-stamp-precision=nano", "--immediate-mode",
        "-B", str(TCPDUMP_BUFFER_KIB), "-Z", "root", "-c", str(args.packets), "-w", str(out),
        f"tcp port {args.port}",
    ]  # fmt: skip
    max_conns = args.packets // MIN_PACKETS_PER_CONNECTION + 1000
    loadgen_cmd = [
        str(loadgen), "-port", str(args.port), "-duration", f"{args.seconds}s", "-conns", str(max_conns),
        "-workers", str(args.workers), "-rate", str(args.rate), "-seed", str(args.seed),
    ]  # fmt: skip
    started = time.time()
    tcpdump = subprocess.Popen(tcpdump_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    tcpdump_err = LineCollector(tcpdump.stderr)
    loadgen_proc = loadgen_out = loadgen_errs = None
    try:
        if not tcpdump_err.wait_for("listening on", 10):
            raise CaptureError("tcpdump did not start listening:\n" + "\n".join(tcpdump_err.lines))
        loadgen_proc = subprocess.Popen(loadgen_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        loadgen_out = LineCollector(loadgen_proc.stdout)
        loadgen_errs = LineCollector(loadgen_proc.stderr)
        hard_deadline = time.monotonic() + args.seconds + 30
        # Whichever ends first: tcpdump reached --packets, or the load generator its bounds.
        while tcpdump.poll() is None and loadgen_proc.poll() is None and time.monotonic() < hard_deadline:
            time.sleep(0.1)
        _stop(loadgen_proc, signal.SIGTERM, 15)
        time.sleep(0.5)  # let the last segments reach tcpdump
        _stop(tcpdump, signal.SIGINT, 15)  # SIGINT: tcpdump flushes and prints its counts
    finally:
        for proc in (loadgen_proc, tcpdump):
            if proc is not None:
                _stop(proc, signal.SIGKILL, 5)
    for collector in (tcpdump_err, loadgen_out, loadgen_errs):
        collector.join()
    if loadgen_proc.returncode not in (0, -signal.SIGTERM):
        raise CaptureError(f"load generator failed ({loadgen_proc.returncode}):\n" + "\n".join(loadgen_errs.lines))
    summary_lines = [line for line in loadgen_out.lines if line.startswith("{")]
    packets = pcap_records.count_records(out)
    first_s, last_s = pcap_records.first_last_ts_s(out)
    return {
        "file": str(out),
        "packets": packets,
        "file_bytes": out.stat().st_size,
        "bytes_per_packet": round(out.stat().st_size / max(packets, 1), 1),
        "capture_span_s": last_s - first_s,
        "how": "real loopback capture: Go net/http server + raw-TCP Go clients on 127.0.0.1 and ::1, "
        "responses of mixed sizes, clients complete / close early with FIN / close early with RST (SO_LINGER 0)",
        "target_packets": args.packets,
        "max_seconds": args.seconds,
        "made_in_s": round(time.time() - started, 1),
        "made_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "tcpdump_cmd": tcpdump_cmd,
        "tcpdump_counts": _tcpdump_counts(tcpdump_err.lines),
        "loadgen_cmd": loadgen_cmd,
        "loadgen_source_sha256": hashlib.sha256(LOADGEN_SOURCE.read_bytes()).hexdigest(),
        "loadgen_summary": json.loads(summary_lines[-1]) if summary_lines else None,
        "kernel": platform.release(),
    }


def scale(args: argparse.Namespace) -> dict:
    base: Path = args.base
    if not base.exists():
        raise CaptureError(f"{base} does not exist: make it first (sudo {sys.executable} {__file__})")
    out = args.out if args.out != DEFAULT_OUT else base.with_name(f"{base.stem}.x{args.scale}{base.suffix}")
    need = base.stat().st_size * args.scale * 1.02
    free = shutil.disk_usage(out.parent).free
    if need > free - (1 << 30):
        raise CaptureError(f"{out}: needs {need / 1e9:.1f} GB, only {free / 1e9:.1f} GB free; use a smaller base")
    started = time.time()
    packets = pcap_records.write_shifted_copies(base, out, args.scale, args.base_records)
    return {
        "file": str(out),
        "packets": packets,
        "file_bytes": out.stat().st_size,
        "how": f"{args.scale} copies of {base} (first {args.base_records or 'all'} records), "
        "each shifted later in time by the base's span + 2 s",
        "base": str(base),
        "scale": args.scale,
        "made_in_s": round(time.time() - started, 1),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--packets", type=int, default=1_000_000, help="stop tcpdump after this many packets")
    p.add_argument("--seconds", type=int, default=300, help="stop the traffic after this long at most")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output pcap (sidecar: OUT.json)")
    p.add_argument("--port", type=int, default=18080, help="server port on 127.0.0.1 and ::1")
    p.add_argument("--workers", type=int, default=16, help="concurrent client connections")
    p.add_argument("--rate", type=float, default=6000, help="connections/s (faster makes tcpdump drop packets)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--skip-if-exists", action="store_true", help="do nothing when OUT and its sidecar exist")
    p.add_argument("--scale", type=int, help="instead of capturing: write K time-shifted copies of --base")
    p.add_argument("--base", type=Path, default=DEFAULT_OUT, help="the capture that --scale copies")
    p.add_argument("--base-records", type=int, help="with --scale: copy only the first N records of --base")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.scale:
            info = scale(args)
        else:
            if args.skip_if_exists and args.out.exists() and sidecar_path(args.out).exists():
                print(f"{args.out} exists; keeping it ({sidecar_path(args.out)})")
                return 0
            info = capture(args)
    except CaptureError as exc:
        print(f"make_capture: {exc}", file=sys.stderr)
        return 2
    out = Path(info["file"])
    sidecar_path(out).write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps({k: info[k] for k in ("file", "packets", "file_bytes", "made_in_s")}))
    if info.get("tcpdump_counts", {}).get("dropped_by_kernel"):
        print(f"warning: tcpdump dropped {info['tcpdump_counts']['dropped_by_kernel']} packets; "
              "lower --rate for a gap-free capture", file=sys.stderr)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
