"""The competitors and baselines of the benchmark, as a table.

Each leg is one whole process run on the capture (or, for the slow ones, on a
1 % slice whose time is extrapolated to the whole file and labelled so).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PYTHON = sys.executable
PARQUET_OUT = Path("/tmp/abortscope-bench.parquet")
CONNECTIONS_OUT = Path("/tmp/abortscope-bench-connections.parquet")
ANNOTATE_OUT = Path("/tmp/abortscope-bench.pcapng")
COPY_OUT = Path("/tmp/abortscope-bench-copy.pcap")
#: every file a leg leaves behind (checked after each run, then deleted)
OUTPUTS = (PARQUET_OUT, CONNECTIONS_OUT, ANNOTATE_OUT, COPY_OUT)

#: the fields every competitor extracts (tshark names); ipv6.* too, since the capture has ::1 traffic
TSHARK_FIELDS = [
    "frame.number", "tcp.flags", "tcp.seq_raw", "tcp.ack_raw", "tcp.len",
    "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport",
]  # fmt: skip


@dataclass(frozen=True)
class Leg:
    key: str  # for --legs
    label: str  # the table's "tool" column
    argv: Callable[[Path], list[str]]  # file -> command
    unavailable: Callable[[], str | None]  # None when it can run, else why not
    baseline: bool = False  # a floor to compare with, not a competitor
    on_slice: bool = False  # too slow for the whole file: time a slice, extrapolate
    json_stdout: bool = False  # prints one JSON line with records/tcp_packets/checksum
    writes: Path | None = None  # a file it must leave behind (parquet: its rows checked; then deleted)
    says: str | None = None  # text its stdout must contain (captured)
    default: bool = True
    writes_big: bool = False  # writes as much as it reads: the page cache is flushed (sync, untimed) before it


def abortscope_bin() -> str:
    beside_python = Path(PYTHON).with_name("abortscope")
    return str(beside_python) if beside_python.exists() else (shutil.which("abortscope") or "abortscope")


def _command_missing(command: str) -> Callable[[], str | None]:
    def check() -> str | None:
        try:
            proc = subprocess.run([abortscope_bin(), command, "--help"], capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"abortscope CLI not runnable ({exc})"
        if proc.returncode != 0:
            return f"`abortscope {command}` does not exist yet"
        return None

    return check


_abortscope_missing = _command_missing("analyze")


def _tool_missing(tool: str, package: str) -> Callable[[], str | None]:
    return lambda: None if shutil.which(tool) else f"{tool} not installed (apt-get install {package})"


def _module_missing(module: str, statement: str = "") -> Callable[[], str | None]:
    def check() -> str | None:
        proc = subprocess.run([PYTHON, "-c", statement or f"import {module}"], capture_output=True, text=True)
        if proc.returncode == 0:
            return None
        return f"cannot import {module}: {(proc.stderr.strip().splitlines() or ['?'])[-1]}"

    return check


def _script(name: str) -> Callable[[Path], list[str]]:
    return lambda file: [PYTHON, str(BENCH_DIR / name), str(file)]


def _always() -> None:
    return None


LEGS: list[Leg] = [
    Leg("cat", "`cat FILE > /dev/null`", lambda f: ["cat", str(f)], _always, baseline=True),
    Leg("import", '`python -c "import numpy, pandas"`', lambda f: [PYTHON, "-c", "import numpy, pandas"],
        _always, baseline=True),
    Leg("text", "**`abortscope analyze FILE`** (the text report)", lambda f: [abortscope_bin(), "analyze", str(f)],
        _abortscope_missing, says="connection(s)"),
    Leg("connections", "**`abortscope analyze --table connections --format parquet`**",
        lambda f: [abortscope_bin(), "analyze", str(f), "--table", "connections", "--format", "parquet",
                   "-o", str(CONNECTIONS_OUT)],
        _abortscope_missing, writes=CONNECTIONS_OUT),
    Leg("abortscope", "**`abortscope analyze --format parquet`** (the timeline)",
        lambda f: [abortscope_bin(), "analyze", str(f), "--format", "parquet", "-o", str(PARQUET_OUT)],
        _abortscope_missing, writes=PARQUET_OUT),
    Leg("copy", "`cp FILE OUT` (writing as many bytes: the floor under annotate)",
        lambda f: ["cp", str(f), str(COPY_OUT)], _always, baseline=True, writes=COPY_OUT, writes_big=True),
    Leg("annotate", "**`abortscope annotate FILE -o OUT.pcapng`** (every packet, with comments)",
        lambda f: [abortscope_bin(), "annotate", str(f), "-o", str(ANNOTATE_OUT)], _command_missing("annotate"),
        writes=ANNOTATE_OUT, says="comments on", writes_big=True),
    Leg("annotate-null", "`abortscope annotate FILE -o /dev/null` (the same, no disk)",
        lambda f: [abortscope_bin(), "annotate", str(f), "-o", "/dev/null"], _command_missing("annotate"),
        says="comments on"),
    Leg("scapy-pcapng", "scapy `RawPcapNgWriter` + `RawPcapReader` (1 % slice, *extrapolated*)",
        _script("write_scapy_pcapng.py"), _module_missing("scapy"), on_slice=True, says='"records"'),
    Leg("fast", "`analysis.pcap.iter_packet_chunks` (reader only)", _script("read_fast.py"),
        _module_missing("analysis.pcap.read_packets", "from analysis.pcap import read_packets"), json_stdout=True),
    Leg("tshark", "`tshark -T fields` (same fields)",
        lambda f: ["tshark", "-r", str(f), "-n", "-T", "fields", "-o", "tcp.analyze_sequence_numbers:FALSE",
                   *[arg for field in TSHARK_FIELDS for arg in ("-e", field)]],
        _tool_missing("tshark", "tshark")),
    Leg("scapy", "scapy `RawPcapReader` + struct", _script("read_scapy_raw.py"), _module_missing("scapy"),
        json_stdout=True),
    Leg("dpkt", "dpkt (`pcap.Reader` + `ethernet.Ethernet`)", _script("read_dpkt.py"), _module_missing("dpkt"),
        json_stdout=True),
    Leg("rdpcap", "scapy `rdpcap` (1 % slice, *extrapolated*)", _script("read_scapy_rdpcap.py"),
        _module_missing("scapy"), on_slice=True, json_stdout=True),
    Leg("pyshark", "pyshark (1 % slice, *extrapolated*)", _script("read_pyshark.py"), _module_missing("pyshark"),
        on_slice=True, json_stdout=True, default=False),
]  # fmt: skip

LEG_KEYS = [leg.key for leg in LEGS]
DEFAULT_KEYS = [leg.key for leg in LEGS if leg.default]
