"""Locate the run bundles the diagnosis tests read.

Default: ``sample_pcaps/<name>/`` (made by ``make samples`` with the real
harness). ``ABORTSCOPE_SAMPLES=/some/dir`` points the same tests at a fresh
harness run (a directory holding bundles with the same names).
"""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import pandas as pd

from tests.conftest import SAMPLES, unavailable

NAMES = ("go-curl-8061", "go-curl-8060", "go-socket-rst", "python-socket-fin", "go-half-close", "go-curl-ipv6")


def samples_dir() -> Path:
    return Path(os.environ.get("ABORTSCOPE_SAMPLES", SAMPLES))


def bundle(name: str) -> Path:
    path = samples_dir() / name
    if not (path / "meta.json").is_file():
        unavailable(f"run bundle {path} not found: run `make samples` (or set ABORTSCOPE_SAMPLES to a harness run)")
    return path


def main_flow(timeline) -> str:
    """The scenario's connection: the latest one whose client sent a request (skips readiness probes)."""
    flows = timeline.flows
    asked = flows[flows["bytes_client"] > 0]
    return str((asked if len(asked) else flows).sort_values("first_ts_ns")["flow"].iloc[-1])


def tshark_packets(pcap: Path) -> pd.DataFrame:
    """The capture read independently: frame, src port, flags (tshark tcp.flags hex), payload length."""
    fields = ["frame.number", "tcp.srcport", "tcp.dstport", "tcp.flags", "tcp.len"]
    cmd = ["tshark", "-n", "-r", str(pcap), "-Y", "tcp", "-T", "fields"] + [x for f in fields for x in ("-e", f)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
    df = pd.read_csv(io.StringIO(out), sep="\t", names=["frame", "sport", "dport", "flags", "len"])
    df["flags"] = df["flags"].map(lambda s: int(str(s), 16))
    return df
