"""Big captures and many captures: memory bounded by connections, time linear in packets, pieces = whole, batch.

    .venv/bin/python bench/streaming.py                 # -> bench/results/streaming.md + streaming.json
    .venv/bin/python bench/streaming.py --scales 5 --reps 1

1. Sizes: the 1M-packet benchmark capture and time-shifted copies of it
   (bench/pcap_records.write_shifted_copies: 5x, 20x; the same port pairs
   reused later, as in a long capture), each analyzed by three whole processes,
   alternating: the text report, the connection table as parquet, the timeline
   as parquet. Wall time, peak RSS (GNU time), and seconds per million packets
   against the 1x file's. Made files are deleted; a size the disk cannot hold
   (2 GB kept free for everyone else) is skipped and says so.
2. Pieces: the 1M file cut by ``editcap -c`` and analyzed as its pieces gives
   the same connection table as the whole file (all but first_file/last_file).
3. Batch: ten captures of 100,000 packets each (the 1M file cut in ten),
   ``abortscope batch`` with 2 worker processes against 1 (sequential), as
   whole processes; the speed-up is their ratio.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

import pcap_records
from legs import abortscope_bin
from timing import run_process

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_FILE = BENCH_DIR / "out" / "big.pcap"
MB = 1024
OUT = Path(tempfile.gettempdir())
LEGS = {
    "text": lambda f: [abortscope_bin(), "analyze", *f],
    "connections": lambda f: [abortscope_bin(), "analyze", *f, "--table", "connections", "--format", "parquet",
                              "-o", str(OUT / "abortscope-streaming-c.parquet")],
    "parquet": lambda f: [abortscope_bin(), "analyze", *f, "--format", "parquet",
                          "-o", str(OUT / "abortscope-streaming-t.parquet")],
}


def _timed(argv: list[str], timeout_s: float) -> tuple[float, float]:
    run = run_process(argv, capture_stdout=False, timeout_s=timeout_s)
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {run.stderr_tail.strip()[-300:]}")
    return run.wall_s, run.peak_rss_kib / MB


def sizes(file: Path, packets: int, scales: list[int], reps: int, out_dir: Path) -> dict:
    """Each size in turn: the copies made (in ``out_dir``), timed, deleted before the next is made."""
    results: dict = {}
    for scale in [1, *scales]:
        target = file if scale == 1 else out_dir / f"{file.stem}.x{scale}{file.suffix}"
        need = file.stat().st_size * scale * 1.02
        if scale != 1 and need > shutil.disk_usage(out_dir).free - (2 << 30):
            results[f"{scale}x"] = {"skipped": f"{need / 1e9:.0f} GB do not fit on {out_dir}'s disk"}
            continue
        try:
            if scale != 1:
                pcap_records.write_shifted_copies(file, target, scale)
            subprocess.run(["cat", str(target)], stdout=subprocess.DEVNULL, check=True)  # warm, as the others
            runs = {leg: [] for leg in LEGS}
            for rep in range(reps):
                for leg, argv in LEGS.items():
                    runs[leg].append(_timed(argv([str(target)]), 600 * scale))
                    print(f"  {scale:>2}x {leg:<12} rep {rep + 1}: {runs[leg][-1][0]:7.2f} s {runs[leg][-1][1]:6.0f} MB")
        finally:
            if scale != 1:
                target.unlink(missing_ok=True)
            for written in OUT.glob("abortscope-streaming-*.parquet"):
                written.unlink()
        results[f"{scale}x"] = {"packets": packets * scale, **{
            leg: {"wall_s": statistics.median(w for w, _ in r), "peak_rss_mb": max(m for _, m in r),
                  "s_per_million": statistics.median(w for w, _ in r) / (packets * scale / 1e6),
                  "walls_s": [round(w, 2) for w, _ in r]} for leg, r in runs.items()}}
    base = results.get("1x")
    for key, result in results.items():
        if base and "skipped" not in result:
            for leg in LEGS:
                result[leg]["x_per_packet_vs_1x"] = result[leg]["s_per_million"] / base[leg]["s_per_million"]
    return results


def pieces(file: Path, per_piece: int, work: Path) -> dict:
    folder = work / "pieces"
    folder.mkdir()
    subprocess.run(["editcap", "-c", str(per_piece), str(file), str(folder / "part.pcap")], check=True)
    whole, parts = work / "whole.parquet", work / "parts.parquet"
    for target, out in (([str(file)], whole), ([str(folder)], parts)):
        subprocess.run([abortscope_bin(), "analyze", *target, "--table", "connections", "--format", "parquet",
                        "-o", str(out)], check=True, stdout=subprocess.DEVNULL)
    a = pd.read_parquet(whole).drop(columns=["first_file", "last_file"])
    b = pd.read_parquet(parts)
    spanning = int((b["first_file"] != b["last_file"]).sum())
    equal = a.equals(b.drop(columns=["first_file", "last_file"]))
    return {"pieces": len(list(folder.iterdir())), "connections": len(a), "equal": bool(equal),
            "connections_in_two_pieces": spanning}


def batch(file: Path, work: Path, reps: int) -> dict:
    """Whole processes, and the tasks' own window (first task started to last finished, from the manifest):
    the throughput once the cluster is up, without its start (spawning the worker processes, ~1.5 s here)."""
    folder = work / "ten"
    folder.mkdir()
    subprocess.run(["editcap", "-c", "100000", str(file), str(folder / "capture.pcap")], check=True)
    inputs = sorted(str(p) for p in folder.iterdir())[:10]
    walls: dict[int, list[float]] = {1: [], 2: []}
    windows: dict[int, list[float]] = {1: [], 2: []}
    for rep in range(reps):
        for workers in (1, 2):
            dataset = work / f"dataset-{workers}-{rep}"
            wall, _ = _timed([abortscope_bin(), "batch", *inputs, "--out", str(dataset), "--workers", str(workers)],
                             1200)
            entries = json.loads((dataset / "_manifest.json").read_text())["captures"].values()
            windows[workers].append(max(e["finished"] for e in entries) - min(e["started"] for e in entries))
            walls[workers].append(wall)
            shutil.rmtree(dataset)
            print(f"  batch of {len(inputs)} x 100k packets, {workers} worker(s), rep {rep + 1}: {wall:.2f} s "
                  f"(tasks {windows[workers][-1]:.2f} s)")
    one, two = statistics.median(walls[1]), statistics.median(walls[2])
    task_one, task_two = statistics.median(windows[1]), statistics.median(windows[2])
    return {"inputs": len(inputs), "sequential_s": one, "two_workers_s": two, "speedup": one / two,
            "tasks_sequential_s": task_one, "tasks_two_workers_s": task_two, "tasks_speedup": task_one / task_two,
            "walls_s": {str(k): [round(w, 2) for w in v] for k, v in walls.items()},
            "task_windows_s": {str(k): [round(w, 2) for w in v] for k, v in windows.items()}}


def markdown(results: dict) -> str:
    lines = ["| capture | packets | leg | wall s | s per M packets | x per packet vs 1x | peak RSS MB |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for key, result in results["sizes"].items():
        if "skipped" in result:
            lines.append(f"| {key} | – | – | skipped: {result['skipped']} | | | |")
            continue
        for leg in LEGS:
            r = result[leg]
            lines.append(f"| {key} | {result['packets']:,} | {leg} | {r['wall_s']:.2f} | {r['s_per_million']:.2f} | "
                         f"{r.get('x_per_packet_vs_1x', 1):.2f} | {r['peak_rss_mb']:.0f} |")
    p, b = results["pieces"], results["batch"]
    lines += ["", f"Pieces: {p['pieces']} pieces by editcap -c, {p['connections']} connections, "
              f"{p['connections_in_two_pieces']} of them in two pieces; connection table equal to the whole file's: "
              f"{p['equal']}.",
              f"Batch: {b['inputs']} captures of 100,000 packets, whole process: 1 worker {b['sequential_s']:.2f} s, "
              f"2 workers {b['two_workers_s']:.2f} s: {b['speedup']:.2f}x; the tasks alone (cluster started): "
              f"{b['tasks_sequential_s']:.2f} s against {b['tasks_two_workers_s']:.2f} s: {b['tasks_speedup']:.2f}x."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--file", type=Path, default=DEFAULT_FILE)
    p.add_argument("--scales", type=int, nargs="*", default=[5, 20])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--out-dir", type=Path, default=BENCH_DIR / "out", help="where the scaled copies are made")
    p.add_argument("--snaplen", type=int, help="first cut every packet to this many bytes (editcap -s): a 20x copy "
                                               "then fits in the page cache, so the sizes compare the analysis, "
                                               "not the disk")
    args = p.parse_args(argv)
    if not args.file.exists():
        print(f"streaming: {args.file} does not exist; make it first (make bench-capture)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="abortscope-streaming-") as work:
        base = args.file
        if args.snaplen:
            base = args.out_dir / f"{args.file.stem}.s{args.snaplen}{args.file.suffix}"
            subprocess.run(["editcap", "-F", "nsecpcap", "-s", str(args.snaplen), str(args.file), str(base)], check=True)
        packets = pcap_records.count_records(base)
        try:
            sized = sizes(base, packets, args.scales, args.reps, args.out_dir)
        finally:
            if base != args.file:
                base.unlink()
        results = {"file": str(args.file), "snaplen": args.snaplen, "packets": packets, "sizes": sized,
                   "pieces": pieces(args.file, 200_000, Path(work)),
                   "batch": batch(args.file, Path(work), args.reps)}
    (BENCH_DIR / "results").mkdir(exist_ok=True)
    (BENCH_DIR / "results" / "streaming.json").write_text(json.dumps(results, indent=2) + "\n")
    (BENCH_DIR / "results" / "streaming.md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
