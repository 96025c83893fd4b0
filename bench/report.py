"""Benchmark results -> markdown (ready for the README) and machine facts."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from importlib import metadata


def _first_line(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return out.strip().splitlines()[0] if out.strip() else "?"


def _tshark_version() -> str:
    found = re.search(r"\d+\.\d+\.\d+", _first_line(["tshark", "-v"]))
    return f"tshark {found.group(0)}" if found else "tshark ?"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _mem_total_gb() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return 0.0


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict:
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "mem_total_gb": _mem_total_gb(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "tshark": _tshark_version(),
        "scapy": _version("scapy"),
        "dpkt": _version("dpkt"),
        "pyshark": _version("pyshark"),
        "git_commit": _first_line(["git", "-C", os.path.dirname(__file__), "rev-parse", "--short", "HEAD"]),
    }


def _fmt_rate(packets_per_s: float | None) -> str:
    if not packets_per_s:
        return "–"
    if packets_per_s >= 1e6:
        return f"{packets_per_s / 1e6:.2f} M"
    if packets_per_s >= 1e4:
        return f"{packets_per_s / 1e3:.0f} k"
    return f"{packets_per_s:,.0f}"


def _fmt_ratio(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.1f}x" if x >= 1 else f"{x:.2f}x"


def _ratio(results: dict, key: str, other: str) -> float | None:
    """A leg's wall time over another's (1.5 = half as fast again)."""
    a, b = _leg(results, key, "wall_s"), _leg(results, other, "wall_s")
    return a / b if a and b else None


#: the targets: (label, how to read the value from results, check, format). Issue 3's for the timeline export,
#: issue 11's for the text report and the connection table, what a user types first; issue 18's for annotate.
TARGETS = [
    ("text report within 1.5x of the parquet timeline export", lambda r: _ratio(r, "text", "abortscope"),
     lambda v: v <= 1.5, "{:.2f}x"),
    ("text report at least 20x tshark", lambda r: _leg(r, "text", "x_vs_tshark"), lambda v: v >= 20, "{:.1f}x"),
    ("text report peak RSS at most 400 MB", lambda r: _leg(r, "text", "peak_rss_mb"), lambda v: v <= 400, "{:.0f} MB"),
    ("connection table export within 1.5x of the timeline export", lambda r: _ratio(r, "connections", "abortscope"),
     lambda v: v <= 1.5, "{:.2f}x"),
    ("connection table export at least 20x tshark", lambda r: _leg(r, "connections", "x_vs_tshark"),
     lambda v: v >= 20, "{:.1f}x"),
    ("connection table export peak RSS at most 400 MB", lambda r: _leg(r, "connections", "peak_rss_mb"),
     lambda v: v <= 400, "{:.0f} MB"),
    ("connection table in at most 1 s beyond analysis.load (in-process)",
     lambda r: (r.get("connection_table") or {}).get("connections_s"), lambda v: v <= 1.0, "{:.2f} s"),
    ("annotate within 2x of the parquet timeline export", lambda r: _ratio(r, "annotate", "abortscope"),
     lambda v: v <= 2.0, "{:.2f}x"),
    ("annotate peak RSS at most 400 MB", lambda r: _leg(r, "annotate", "peak_rss_mb"), lambda v: v <= 400,
     "{:.0f} MB"),
    ("timeline export at least 25x tshark", lambda r: _leg(r, "abortscope", "x_vs_tshark"), lambda v: v >= 25, "{:.1f}x"),
    ("timeline export under about 3 s", lambda r: _leg(r, "abortscope", "wall_s"), lambda v: v <= 3.0, "{:.2f} s"),
    ("timeline export peak RSS under 400 MB", lambda r: _leg(r, "abortscope", "peak_rss_mb"), lambda v: v < 400, "{:.0f} MB"),
    ("analysis >= 1M packets/s, start-up aside", lambda r: (r.get("analysis_rate") or {}).get("packets_per_s"),
     lambda v: v >= 1e6, "{:,.0f} packets/s"),
    # the analysis' scaling, as the issue words it: the fixed start-up (imports) is not part of it, so both
    # sizes are timed inside one process (bench/analysis_time.py)
    ("5x the packets takes about 5x the time, start-up aside", lambda r: (r.get("scaling") or {}).get("ratio_net"),
     lambda v: 4.0 <= v <= 6.0, "{:.2f}x"),
]  # fmt: skip


def _leg(results: dict, key: str, field: str):
    for leg in results["legs"]:
        if leg["key"] == key and not leg.get("skipped"):
            return leg.get(field)
    return None


def target_lines(results: dict) -> list[str]:
    lines = []
    for label, value_of, ok, fmt in TARGETS:
        value = value_of(results)
        if value is None:
            lines.append(f"- {label}: not measured")
        else:
            lines.append(f"- {label}: {fmt.format(value)}, {'met' if ok(value) else '**not met**'}")
    return lines


def markdown(results: dict) -> str:
    f, m = results["file"], results["machine"]
    lines = [
        f"File: `{f['path']}`, {f['packets']:,} packets, {f['file_bytes'] / 1e9:.2f} GB "
        f"({f['how']}).",
        f"Machine: {m['nproc']} cores, {m['cpu_model']}, {m['mem_total_gb']} GB RAM, Linux {m['kernel']}, "
        f"Python {m['python']}, {m['tshark']}, scapy {m['scapy']}, dpkt {m['dpkt']}. "
        f"{results['date']}, commit {m['git_commit']}.",
        f"Whole processes, {results['reps']} alternating repetitions (warm page cache), median wall time; "
        f"peak RSS by {results['rss_method']}.",
        "",
        "| tool | wall s | packets/s | x vs tshark | peak RSS MB |",
        "|---|---:|---:|---:|---:|",
    ]
    notes = []
    for leg in results["legs"]:
        if leg.get("skipped"):
            notes.append(f"- {leg['label']}: not run: {leg['skipped']}.")
            continue
        wall = f"{leg['wall_s']:.2f}" if leg["wall_s"] < 100 else f"{leg['wall_s']:.0f}"
        if leg["extrapolated"]:
            wall = f"~{wall} (extrapolated)"
        rss = f"{leg['peak_rss_mb']:.0f}" + (" (slice)" if leg["extrapolated"] else "")
        rate, ratio = _fmt_rate(leg["packets_per_s"]), _fmt_ratio(leg["x_vs_tshark"])
        lines.append(f"| {leg['label']} | {wall} | {rate} | {ratio} | {rss} |")
        if leg.get("problem"):
            notes.append(f"- {leg['label']}: {leg['problem']}")
    lines.append("")
    lines.append("x vs tshark = tshark's wall time / the tool's (higher is faster).")
    if any(leg.get("extrapolated") for leg in results["legs"]):
        lines.append(
            f"Extrapolated rows ran on the first {results['slice']['packets']:,} packets and are scaled by "
            f"{f['packets'] / max(results['slice']['packets'], 1):.0f}; their RSS is the slice's."
        )
    if check := results.get("tshark_check"):
        verdict = {True: "the same as", False: "**different from**", None: "(no reader to compare with)"}
        lines.append(
            f"Correctness: tshark's fields fold to checksum {check['checksum']} over {check['tcp_packets']:,} "
            f"TCP packets, {verdict[check['agrees']]} the reader legs."
        )
    optional_checks = (("analysis_rate", "in-process analysis timing", _rate_line),
                       ("connection_table", "in-process connection table timing", _table_line),
                       ("scaling", "scaling check", _scaling_line), ("cold", "cold-cache check", _cold_line))
    for key, label, describe in optional_checks:
        check = results.get(key)
        if check and check.get("skipped"):
            notes.append(f"- {label}: not run: {check['skipped']}.")
        elif check:
            lines.append(describe(check))
    if line := _annotate_line(results):
        lines.append(line)
    lines += ["", "Targets for `abortscope analyze` and `annotate` (issues 3, 11 and 18):", *target_lines(results)]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


def _annotate_line(results: dict) -> str | None:
    """Where annotate's time goes: the analysis (about the parquet export's) and writing the copy (about cp's)."""
    annotate, parquet, copy, null = (_leg(results, key, "wall_s") for key in ("annotate", "abortscope", "copy",
                                                                               "annotate-null"))
    if not (annotate and parquet and copy):
        return None
    return (f"Annotate writes every packet again ({results['file']['file_bytes'] / 1e9:.2f} GB and the comments): "
            f"{annotate:.2f} s against the parquet export's {parquet:.2f} s plus `cp`'s {copy:.2f} s for the same "
            f"bytes ({annotate / (parquet + copy):.2f}x their sum)"
            + (f"; written to /dev/null, {null:.2f} s ({null / parquet:.2f}x the parquet export)." if null else "."))


def _rate_line(rate: dict) -> str:
    return (f"Start-up aside (the analysis timed inside one process, bench/analysis_time.py: {rate['net_s']:.2f} s), "
            f"the analysis runs at {_fmt_rate(rate['packets_per_s'])} packets/s.")


def _table_line(t: dict) -> str:
    return (f"The connection table of all {t['connections']:,} connections (every verdict, in-process): "
            f"{t['connections_s']:.2f} s beyond analysis.load's {t['load_s']:.2f} s.")


def _scaling_line(s: dict) -> str:
    return (f"Scaling: {s['scale']}x the packets ({s['packets_1x']:,} -> {s['packets_kx']:,}) took "
            f"{s['ratio']:.2f}x the time ({s['wall_1x_s']:.2f} s -> {s['wall_kx_s']:.2f} s, whole process); "
            f"the analysis itself took {s['ratio_net']:.2f}x ({s['analysis_1x_s']:.2f} s -> "
            f"{s['analysis_kx_s']:.2f} s, in-process); peak RSS {s['rss_1x_mb']:.0f} -> {s['rss_kx_mb']:.0f} MB.")


def _cold_line(c: dict) -> str:
    return (f"Cold page cache (the file evicted before each run): abortscope took {c['wall_s']:.2f} s "
            f"(runs: {', '.join(f'{w:.2f}' for w in c['walls_s'])} s).")
