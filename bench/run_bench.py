"""Time abortscope against tshark, scapy and dpkt on the same big capture, runs alternating.

    .venv/bin/python bench/run_bench.py                     # bench/out/big.pcap, 3 repetitions
    .venv/bin/python bench/run_bench.py --legs tshark,dpkt --reps 5
    .venv/bin/python bench/run_bench.py --scaling           # also: 1x vs 5x packets for abortscope
    .venv/bin/python bench/run_bench.py --cold              # also: abortscope on a file not in the page cache

Every leg is a whole process (start-up, imports and output included), timed
from spawn to reap; peak RSS comes from os.wait4 for that very child. Runs
alternate (A B C D A B C D ...) so that a slow phase of the machine (another
job, thermal or cache state) hits every tool alike instead of one tool's block.
Writes bench/results/latest.md (the table for the README) and latest.json.
Make the capture first: sudo .venv/bin/python bench/make_capture.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import legs as legs_table
import pcap_records
import report
from legs import LEGS, OUTPUTS, PARQUET_OUT, PYTHON, Leg
from timing import RSS_FLOOR_NOTE, Run, gnu_time_available, run_process

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_FILE = BENCH_DIR / "out" / "big.pcap"
RESULTS_DIR = BENCH_DIR / "results"
SLICE_FRACTION = 0.01
MB = 1024  # ru_maxrss is in KiB


def file_facts(path: Path) -> dict:
    sidecar = path.with_name(path.name + ".json")
    info = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    packets = info.get("packets") or pcap_records.count_records(path)
    return {"path": str(path), "packets": packets, "file_bytes": path.stat().st_size,
            "how": info.get("how", "no sidecar: origin unknown"), "sidecar": info}  # fmt: skip


def byte_compile() -> None:
    """Compile the project's modules to bytecode once, as pip does when it installs a package: every leg then
    times what an installed abortscope does, not the compiling of its sources (an editable install run with
    PYTHONDONTWRITEBYTECODE=1 would otherwise compile them again in every process: about 0.07 s)."""
    import compileall

    root = BENCH_DIR.parent
    for package in ("analysis", "abortscope", "capture"):
        if not compileall.compile_dir(root / package, quiet=1):
            raise SystemExit(f"run_bench: {package} does not compile")


def warm_cache(*paths: Path) -> None:
    """Read the files once, untimed, so that every leg (the first one too) sees a warm page cache."""
    for path in paths:
        with open(path, "rb") as f:
            while f.read(16 << 20):
                pass


def check_output(leg: Leg, run: Run, expected: dict) -> str | None:
    """A problem with this run, in words, or None. Every JSON leg must agree with the others."""
    if run.timed_out:
        return "timed out"
    if run.returncode != 0:
        return f"exit status {run.returncode}: {run.stderr_tail.strip()[-300:]}"
    if leg.writes is not None:
        if leg.writes.suffix == ".parquet":
            return check_parquet(leg.writes, expected, per_packet=leg.writes == PARQUET_OUT)
        if problem := check_written(leg.writes):
            return problem
    if leg.says is not None:
        return None if leg.says in run.stdout else f"stdout lacks {leg.says!r}: {run.stdout[:200]!r}"
    if not leg.json_stdout:
        return None
    try:
        got = json.loads(run.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return f"no JSON line on stdout: {run.stdout[-200:]!r}"
    key = "slice" if leg.on_slice else "file"
    seen = {k: got[k] for k in ("tcp_packets", "checksum")}
    if expected.setdefault(key, seen) != seen:
        return f"disagrees with the other readers: {seen} vs {expected[key]}"
    return None


def check_parquet(path: Path, expected: dict, per_packet: bool) -> str | None:
    """The analyzer's export exists and has rows: one per TCP packet for the timeline (``per_packet``)
    (metadata only: cheap)."""
    import pyarrow.parquet as pq

    if not path.exists():
        return f"{path} was not written"
    try:
        rows = pq.ParquetFile(path).metadata.num_rows
    finally:
        path.unlink()
    if not per_packet:
        expected.setdefault("connection_rows", rows)
        return None if rows else "the connection table is empty"
    expected_rows = expected.get("file", {}).get("tcp_packets")
    expected.setdefault("parquet_rows", rows)
    if expected_rows is not None and rows < expected_rows:
        return f"timeline has {rows} rows for {expected_rows} TCP packets"
    return None


def check_written(path: Path) -> str | None:
    """A leg's file (annotate's pcapng, cp's copy) was written (then it is deleted: 1.8 GB each)."""
    if not path.exists():
        return f"{path} was not written"
    size = path.stat().st_size
    path.unlink()
    return None if size else f"{path} is empty"


def run_alternating(chosen: list[Leg], file: Path, slice_file: Path, reps: int, timeout_s: float) -> dict:
    runs: dict[str, list[Run]] = {leg.key: [] for leg in chosen}
    problems: dict[str, str] = {}
    expected: dict = {}
    for rep in range(reps):
        for leg in chosen:
            target = slice_file if leg.on_slice else file
            if leg.writes_big:  # not the previous legs' 1.8 GB of dirty pages: the disk starts even for each
                os.sync()
            run = run_process(leg.argv(target), capture_stdout=leg.json_stdout or leg.says is not None,
                              timeout_s=timeout_s)
            runs[leg.key].append(run)
            problem = check_output(leg, run, expected)
            if problem:
                problems[leg.key] = problem
            print(f"  rep {rep + 1}/{reps} {leg.key:<10} {run.wall_s:8.2f} s  {run.peak_rss_kib / MB:7.0f} MB"
                  + (f"  ! {problem}" if problem else ""), flush=True)  # fmt: skip
    return {"runs": runs, "problems": problems, "expected": expected}


def summarise(chosen: list[Leg], skipped: dict[str, str], measured: dict, packets: int, slice_packets: int) -> list:
    rows = []
    for leg in LEGS:
        if leg.key in skipped:
            rows.append({"key": leg.key, "label": leg.label, "skipped": skipped[leg.key]})
            continue
        if leg not in chosen:
            continue
        runs = measured["runs"][leg.key]
        factor = packets / slice_packets if leg.on_slice else 1.0
        walls = [r.wall_s * factor for r in runs]
        wall = statistics.median(walls)
        rows.append({
            "key": leg.key, "label": leg.label, "command": leg.argv(Path("FILE")),
            "walls_s": [round(w, 3) for w in walls], "wall_s": wall,
            "packets_per_s": None if leg.baseline and leg.key != "cat" else packets / wall,
            "peak_rss_mb": max(r.peak_rss_kib for r in runs) / MB,
            "extrapolated": leg.on_slice, "baseline": leg.baseline,
            "problem": measured["problems"].get(leg.key),
        })  # fmt: skip
    tshark = next((r for r in rows if r["key"] == "tshark" and not r.get("skipped")), None)
    for row in rows:
        if not row.get("skipped"):
            row["x_vs_tshark"] = tshark["wall_s"] / row["wall_s"] if tshark else None
    return rows


def analysis_seconds(file: Path, timeout_s: float) -> float:
    """One in-process timing of the analysis on ``file`` (bench/analysis_time.py), start-up aside."""
    run = run_process([PYTHON, str(BENCH_DIR / "analysis_time.py"), str(file), str(PARQUET_OUT)], capture_stdout=True,
                      timeout_s=timeout_s)
    PARQUET_OUT.unlink(missing_ok=True)
    if run.returncode != 0:
        raise RuntimeError(f"analysis_time.py failed on {file}: {run.stderr_tail.strip()[-300:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])["seconds"]


def analysis_rate(file: Path, packets: int, reps: int, timeout_s: float) -> dict:
    """Packets per second of the analysis itself (median of ``reps`` in-process timings); {"skipped": why} on failure."""
    try:
        walls = [analysis_seconds(file, timeout_s) for _ in range(reps)]
    except RuntimeError as exc:
        return {"skipped": str(exc)}
    net_s = statistics.median(walls)
    print(f"  analysis in-process: {', '.join(f'{w:.2f}' for w in walls)} s")
    return {"net_s": net_s, "packets_per_s": packets / net_s, "walls_s": [round(w, 3) for w in walls]}


def connection_table_time(file: Path, reps: int, timeout_s: float) -> dict:
    """The connection table timed in-process beyond analysis.load (median of ``reps``); {"skipped": why} on failure."""
    runs = []
    for _ in range(reps):
        run = run_process([PYTHON, str(BENCH_DIR / "analysis_time.py"), "--connections", str(file)],
                          capture_stdout=True, timeout_s=timeout_s)
        if run.returncode != 0:
            return {"skipped": f"analysis_time.py --connections failed: {run.stderr_tail.strip()[-300:]}"}
        runs.append(json.loads(run.stdout.strip().splitlines()[-1]))
    walls = [r["connections_s"] for r in runs]
    print(f"  connection table in-process: {', '.join(f'{w:.2f}' for w in walls)} s "
          f"beyond load ({runs[0]['connections']:,} connections)")
    return {"connections": runs[0]["connections"], "load_s": statistics.median(r["load_s"] for r in runs),
            "connections_s": statistics.median(walls), "walls_s": [round(w, 3) for w in walls]}


def scaling_check(file: Path, packets: int, scale: int, reps: int, timeout_s: float) -> dict:
    """abortscope on the 1x and on a scale-x file (time-shifted copies), alternating; the Kx file is deleted."""
    abortscope = next(leg for leg in LEGS if leg.key == "abortscope")
    if why := abortscope.unavailable():
        return {"skipped": why}
    out_dir = file.parent
    free = shutil.disk_usage(out_dir).free - (2 << 30)  # keep 2 GB for everyone else
    base_records = None
    if file.stat().st_size * scale > free:  # not enough disk for Kx the whole file: scale a head of it
        base_records = int(packets * free / (file.stat().st_size * scale))
        if base_records < 10_000:
            return {"skipped": f"not enough disk in {out_dir} for {scale}x"}
    base = file
    kx = out_dir / f"{file.stem}.x{scale}{file.suffix}"
    made = []
    try:
        if base_records:
            base = out_dir / f"{file.stem}.head{file.suffix}"
            made.append(base)
            pcap_records.write_head(file, base, base_records)
        made.append(kx)
        packets_1x = base_records or packets
        packets_kx = pcap_records.write_shifted_copies(file, kx, scale, base_records)
        warm_cache(base, kx)
        walls: dict[str, list[float]] = {"1x": [], "kx": [], "analysis 1x": [], "analysis kx": []}
        rss: dict[str, int] = {"1x": 0, "kx": 0}
        try:
            for rep in range(reps):
                for name, target in (("1x", base), ("kx", kx)):
                    run = run_process(abortscope.argv(target), capture_stdout=False, timeout_s=timeout_s * scale)
                    if run.returncode != 0:
                        return {"skipped": f"abortscope failed on {target}: {run.stderr_tail.strip()[-300:]}"}
                    walls[name].append(run.wall_s)
                    rss[name] = max(rss[name], run.peak_rss_kib)
                    walls[f"analysis {name}"].append(analysis_seconds(target, timeout_s * scale))
                    print(f"  scaling rep {rep + 1}/{reps} {name:<3} {run.wall_s:8.2f} s {run.peak_rss_kib / MB:7.0f} MB"
                          f"  (analysis in-process {walls[f'analysis {name}'][-1]:.2f} s)")
        except RuntimeError as exc:
            return {"skipped": str(exc)}
        w1, wk, a1, ak = (statistics.median(walls[k]) for k in ("1x", "kx", "analysis 1x", "analysis kx"))
        return {
            "scale": scale, "packets_1x": packets_1x, "packets_kx": packets_kx,
            "wall_1x_s": w1, "wall_kx_s": wk, "ratio": wk / w1,
            "analysis_1x_s": a1, "analysis_kx_s": ak, "ratio_net": ak / a1,
            "rss_1x_mb": rss["1x"] / MB, "rss_kx_mb": rss["kx"] / MB,
            "walls_s": {k: [round(w, 3) for w in v] for k, v in walls.items()},
        }  # fmt: skip
    finally:
        for path in made:
            path.unlink(missing_ok=True)


def evict(path: Path) -> None:
    """Drop the file's pages from the page cache (no root needed: they are clean), as for a capture not read before."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def cold_check(file: Path, reps: int, timeout_s: float) -> dict:
    """abortscope on the file with nothing of it in the page cache: each run after evicting it."""
    abortscope = next(leg for leg in LEGS if leg.key == "abortscope")
    if why := abortscope.unavailable():
        return {"skipped": why}
    walls = []
    for rep in range(reps):
        evict(file)
        run = run_process(abortscope.argv(file), capture_stdout=False, timeout_s=timeout_s)
        if run.returncode != 0:
            return {"skipped": f"abortscope failed: {run.stderr_tail.strip()[-300:]}"}
        walls.append(run.wall_s)
        print(f"  cold rep {rep + 1}/{reps} {run.wall_s:8.2f} s")
    PARQUET_OUT.unlink(missing_ok=True)
    return {"wall_s": statistics.median(walls), "walls_s": [round(w, 3) for w in walls]}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--file", type=Path, default=DEFAULT_FILE, help="classic pcap to read (make_capture.py output)")
    p.add_argument("--reps", type=int, default=3, help="alternating repetitions per leg")
    p.add_argument("--legs", default=",".join(legs_table.DEFAULT_KEYS),
                   help=f"comma-separated subset of: {', '.join(legs_table.LEG_KEYS)} (pyshark is opt-in)")  # fmt: skip
    p.add_argument("--timeout", type=float, default=1800, help="seconds before one run is killed")
    p.add_argument("--scaling", action="store_true", help="also time abortscope on the file and on --scale copies")
    p.add_argument("--scale", type=int, default=5)
    p.add_argument("--cold", action="store_true",
                   help="also time abortscope with the file evicted from the page cache before each run")
    p.add_argument("--verify-tshark", action="store_true",
                   help="also (untimed, ~1 min) check that tshark's fields give the readers' checksum")  # fmt: skip
    p.add_argument("--results", type=Path, default=RESULTS_DIR, help="where latest.md and latest.json go")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.file.exists():
        print(f"run_bench: {args.file} not found; make it with: sudo {sys.executable} "
              f"{BENCH_DIR / 'make_capture.py'}", file=sys.stderr)  # fmt: skip
        return 2
    unknown = set(args.legs.split(",")) - set(legs_table.LEG_KEYS)
    if unknown:
        print(f"run_bench: unknown legs {sorted(unknown)}; choose from {legs_table.LEG_KEYS}", file=sys.stderr)
        return 2
    facts = file_facts(args.file)
    slice_file = Path("/tmp") / f"{args.file.stem}.slice{args.file.suffix}"
    slice_packets = pcap_records.write_head(args.file, slice_file, max(1, int(facts["packets"] * SLICE_FRACTION)))
    wanted = [leg for leg in LEGS if leg.key in args.legs.split(",")]
    skipped = {leg.key: why for leg in wanted if (why := leg.unavailable())}
    chosen = [leg for leg in wanted if leg.key not in skipped]
    for key, why in skipped.items():
        print(f"skipping {key}: {why}")
    print(f"{facts['packets']:,} packets, {facts['file_bytes'] / 1e9:.2f} GB; legs: {[leg.key for leg in chosen]}")
    try:
        byte_compile()
        warm_cache(args.file, slice_file)
        measured = run_alternating(chosen, args.file, slice_file, args.reps, args.timeout)
    finally:
        slice_file.unlink(missing_ok=True)
        for output in OUTPUTS:
            output.unlink(missing_ok=True)
    rows = summarise(chosen, skipped, measured, facts["packets"], slice_packets)
    results = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": report.machine_info(),
        "file": facts,
        "slice": {"fraction": SLICE_FRACTION, "packets": slice_packets},
        "reps": args.reps,
        "legs": rows,
        "agreed": measured["expected"],
        "analysis_rate": analysis_rate(args.file, facts["packets"], args.reps, args.timeout),
        "connection_table": connection_table_time(args.file, args.reps, args.timeout),
        "rss_method": "GNU time %M (wait4 ru_maxrss of the child)" if gnu_time_available() else RSS_FLOOR_NOTE,
    }
    if args.verify_tshark:
        from verify_tshark import tshark_checksum

        got = tshark_checksum(str(args.file))
        reference = measured["expected"].get("file")
        results["tshark_check"] = {**got, "agrees": reference == got if reference else None}
        print(f"tshark checksum: {got}, readers: {reference}")
    if args.scaling:
        results["scaling"] = scaling_check(args.file, facts["packets"], args.scale, args.reps, args.timeout)
    if args.cold:
        results["cold"] = cold_check(args.file, args.reps, args.timeout)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "latest.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (args.results / "latest.md").write_text(report.markdown(results))
    print()
    print(report.markdown(results))
    return 1 if any(row.get("problem") for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
