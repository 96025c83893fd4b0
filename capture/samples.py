"""The canonical sample bundles in sample_pcaps/: one real harness run per story.

    python -m capture.samples sample_pcaps            # every sample (what `make samples` runs; needs root)
    python -m capture.samples sample_pcaps --only go-curl-8061 go-curl-8060
    python -m capture.samples sample_pcaps --readme   # only rewrite sample_pcaps/README.md
    python -m capture.samples sample_pcaps --figures  # only redraw the figures of the bundles (no root)

Each entry of :data:`SAMPLES` is a set of ScenarioParams overrides (on top of
the seed scenario: go + curl, 8061 bytes, abort at 0.3 s, 1 s handler sleep)
plus one line saying what the bundle shows, and the outcome the run must have
to show it (``Expect``). A run is real, so its timing can miss the story (a
loaded machine, a slow start); a run whose outcome differs is retried, at most
:data:`MAX_ATTEMPTS` times, and reported if it never matches.

The bundle names are a contract: the analyzer's tests, the golden tests
(tests/golden/<name>/) and the notebook read ``sample_pcaps/<name>``. After
regenerating, refresh the goldens: ``ABORTSCOPE_REGEN_GOLDEN=1 pytest
tests/analysis/test_golden.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from analysis.bundle import BundlePaths
from analysis.bundle_outputs import AfterRun, write_outputs
from analysis.errors import AbortscopeError
from capture.out_dir import OutDir, make_staging
from capture.privileges import MissingToolError, NeedsRootError
from capture.run_summary import lines_of, summarize
from capture.scenario import RunResult, ScenarioParams, run_scenario
from capture.users import invoking_user

MAX_ATTEMPTS = 3
README = "README.md"


@dataclass(frozen=True)
class Expect:
    """The run outcome that makes a sample show its story, read from the run's summary (capture.run_summary).

    ``app_error``: True when the server's application must report an error, False when it must not, None: either.
    ``failing_write``: the errno of the first failing write-like syscall ("EPIPE"), "" for none, None: either.
    ``rst``: True when the capture must hold a RST, False when it must not, None: either.
    ``truncated``: True when the snaplen must have cut packets, False when it must not, None: either.
    The packet facts are read with the analyzer's reader, which knows every link type (SLL2 included).
    """

    app_error: bool | None = None
    failing_write: str | None = None
    rst: bool | None = None
    truncated: bool | None = None


@dataclass(frozen=True)
class Sample:
    shows: str
    overrides: dict = field(default_factory=dict)
    expect: Expect = Expect()


#: name -> what the bundle shows, the ScenarioParams overrides that make it, the outcome it needs.
SAMPLES: dict[str, Sample] = {
    "go-curl-8061": Sample(
        "The report: FIN at +0.3 s, 4096 B written at +1 s, RST, then the handler's Write fails with EPIPE "
        "(broken pipe).",
        {}, Expect(app_error=True, failing_write="EPIPE", rst=True, truncated=False)),
    "go-curl-8060": Sample(
        "One byte less: the second write fails after the handler returned; net/http swallows the EPIPE "
        "(only strace shows it).",
        {"size": 8060}, Expect(app_error=False, failing_write="EPIPE", rst=True)),
    "go-content-length": Sample(
        "Content-Length instead of chunked, same 8061 bytes: no chunk framing, so the response fits in 8192 "
        "bytes on the wire; the Write returns nil and the EPIPE of the final flush is swallowed.",
        {"content_length": True}, Expect(app_error=False, failing_write="EPIPE", rst=True)),
    "go-ctx-aware": Sample(
        "The fix: the handler waits on r.Context() as well as its timer; the client's FIN cancels the context "
        "at +0.3 s and the handler returns without writing (net/http still sends an empty 200, which draws a "
        "RST): no write fails.",
        {"ctx_aware": True}, Expect(failing_write="")),
    "go-ctx-aware-socket-rst": Sample(
        "The fix against a client that aborts with RST: net/http's background read gets ECONNRESET, the handler "
        "sees the context canceled and returns without writing, and net/http's own empty response gets EPIPE: the "
        "application saw the client go, nothing was swallowed.",
        {"ctx_aware": True, "client": "socket-rst"}, Expect(failing_write="EPIPE", rst=True)),
    "go-ctx-aware-half-close": Sample(
        "The fix against a client that only half-closes: the handler takes the FIN for the client going away and "
        "returns without writing; the client, still reading, gets an empty 200 instead of its body (no RST, no "
        "error): a loss the half-close hides.",
        {"ctx_aware": True, "client": "half-close"}, Expect(failing_write="", rst=False)),
    "nginx-proxy-chain": Sample(
        "Debian's nginx as a reverse proxy in front of the Go server, curl aborting with FIN: nginx closes its "
        "upstream connection right after the client's close, and the Go server's later write gets the RST: two "
        "connections, one chain.",
        {"proxy": "nginx"}, Expect(rst=True)),
    "refused": Sample(
        "A connection refused: the client's SYN to a loopback address nothing listens on is answered by RST; its "
        "socket was in SYN_SENT, so connect() gets ECONNREFUSED.",
        {"client": "refused"}, Expect(failing_write="", rst=True)),
    "go-socket-rst": Sample(
        "The client aborts with RST (SO_LINGER 0): net/http's background read gets ECONNRESET and the first "
        "write already fails with EPIPE.",
        {"client": "socket-rst"}, Expect(app_error=True, failing_write="EPIPE", rst=True)),
    "go-half-close": Sample(
        "shutdown(SHUT_WR) and keep reading: a working half-close, the whole response arrives, no RST, "
        "no error.",
        {"client": "half-close"}, Expect(app_error=False, failing_write="", rst=False)),
    "python-socket-fin": Sample(
        "Python's http.server sends the headers in a write of their own: they draw the RST, so the body's "
        "send fails at once with EPIPE and the app sees BrokenPipeError, at any size.",
        {"server": "python", "client": "socket-fin"}, Expect(app_error=True, failing_write="EPIPE", rst=True)),
    "node-socket-fin": Sample(
        "Node reads the client's FIN, closes its side (FIN, no RST) and destroys the socket: the later "
        "res.write fails inside Node (ERR_STREAM_DESTROYED), no syscall fails.",
        {"server": "node", "client": "socket-fin"}, Expect(app_error=True, failing_write="", rst=False)),
    "go-curl-ipv6": Sample(
        "The report over IPv6 loopback (::1).",
        {"host": "::1"}, Expect(app_error=True, failing_write="EPIPE", rst=True)),
    "go-curl-any": Sample(
        "The report captured with `tcpdump -i any`: Linux cooked capture v2 (SLL2) link type.",
        {"capture_iface": "any"}, Expect(app_error=True, failing_write="EPIPE", rst=True, truncated=False)),
    "go-curl-snaplen96": Sample(
        "The report captured with a 96-byte snaplen: payloads cut, headers kept; lengths come from the IP "
        "header.",
        {"snaplen": 96}, Expect(app_error=True, failing_write="EPIPE", rst=True, truncated=True)),
}


def missing_fields(sample: Sample) -> list[str]:
    """Overrides that this checkout's ScenarioParams does not know (yet)."""
    known = {f.name for f in dataclasses.fields(ScenarioParams)}
    return [name for name in sample.overrides if name not in known]


def params_for(name: str, out_dir: Path) -> ScenarioParams:
    return ScenarioParams(out_dir=out_dir / name, **SAMPLES[name].overrides)


def mismatches(expect: Expect, result: RunResult) -> list[str]:
    """How a run's outcome differs from what its sample needs ([] when it shows the story)."""
    summary = result.summary
    if summary is None:
        return [f"no run summary ({'; '.join(lines_of(result.meta))})"]
    found = {
        "app_error": summary.app_error is not None,
        "failing_write": (summary.failing_errno or "?") if summary.failing_syscall else "",
        "rst": summary.rst is not None,
        "truncated": summary.truncated,
    }
    wrong = []
    for key, wanted in dataclasses.asdict(expect).items():
        if wanted is not None and found[key] != wanted:
            wrong.append(f"{key}: wanted {wanted!r}, got {found[key]!r}")
    return wrong


def write_figures(bundle_dir: Path) -> AfterRun:
    """After-run hook: the run's outputs without timeline.csv (the committed samples keep their size)."""
    return write_outputs(bundle_dir, timeline_csv=False)


def generate(name: str, out_dir: Path, attempts: int = MAX_ATTEMPTS, log=print) -> list[str]:
    """Run one sample until it shows its story (at most ``attempts`` runs); return the last mismatches."""
    sample = SAMPLES[name]
    wrong: list[str] = []
    for attempt in range(1, attempts + 1):
        result = run_scenario(params_for(name, out_dir), argv=sys.argv, after_run=write_figures)
        lines = lines_of(result.meta)
        wrong = mismatches(sample.expect, result)
        analysis_error = (result.meta.get("analysis") or {}).get("error")
        log(f"{name} (run {attempt}): " + " | ".join(" ".join(line.split()) for line in lines))
        if analysis_error:
            log(f"  figures not written: {analysis_error}")
        if not wrong:
            return []
        log(f"  does not show its story: {'; '.join(wrong)}")
    return wrong


def readme_text(out_dir: Path) -> str:
    """sample_pcaps/README.md: the table, with what each bundle on disk actually recorded."""
    lines = [
        "# Sample run bundles",
        "",
        "Canonical runs of the abort scenario, captured by the harness (`make samples`, i.e.",
        "`python -m capture.samples sample_pcaps`, as root). Every bundle holds `capture.pcap`, `app.jsonl`,",
        "`strace.txt`, `kernel.txt`, `meta.json` (format: analysis/bundle.py), the server's stderr",
        "(`server.log`) and the figures the run draws (`ladder.svg`, `timeline.png`).",
        "The seed scenario: Go net/http server, handler sleeps 1 s then writes 8061 bytes; curl, aborted",
        "with SIGINT at 0.3 s. Each row changes only the parameters shown (capture.scenario.ScenarioParams).",
        "",
        "The golden tests (tests/golden/) keep the analyzer's timeline and diagnosis of each bundle;",
        "after `make samples`, refresh them with `ABORTSCOPE_REGEN_GOLDEN=1 pytest tests/analysis/test_golden.py`.",
        "",
        "| bundle | parameters | what it shows | recorded (app, failing syscall, analyzer verdict) |",
        "|---|---|---|---|",
    ]
    for name, sample in SAMPLES.items():
        params = ", ".join(f"`{k}={v!r}`" for k, v in sample.overrides.items()) or "seed"
        lines.append(f"| [{name}]({name}/) | {params} | {sample.shows} | {_recorded(out_dir / name)} |")
    lines += ["", "Try one: `abortscope analyze sample_pcaps/go-curl-8061`, "
              "`abortscope plot sample_pcaps/go-curl-8061 --kind ladder -o ladder.svg`.", ""]
    return "\n".join(lines)


def _recorded(bundle_dir: Path) -> str:
    """The app line and failing syscall of the run's summary, and the analyzer's verdict of each connection: views
    of one load of the bundle."""
    try:
        meta = json.loads((bundle_dir / "meta.json").read_text())
    except (OSError, json.JSONDecodeError):
        return "not generated yet"
    try:
        from analysis import load

        timeline = load(bundle_dir)
    except Exception as exc:  # noqa: BLE001 - the README still lists the bundle
        return f"not analysed ({type(exc).__name__})"
    port, recorders = (meta.get("server") or {}).get("port"), meta.get("recorders")
    said = summarize(timeline, BundlePaths(bundle_dir).app, port, recorders).said()
    cells = [f"{key}: `{said[key]}`" for key in ("app", "syscall")]
    verdicts = dict.fromkeys(timeline.connections["verdict"].astype(str))
    cells.append(f"verdict: `{', '.join(verdicts) or 'no connection'}`")
    return "<br>".join(c.replace("|", "\\|") for c in cells)


def _write_readme(out_dir: Path) -> None:
    """README.md into ``out_dir`` as the bundles are (capture.out_dir): no link followed, owned by the invoking user."""
    out = OutDir.open(out_dir, invoking_user(), claims=lambda fd, entries: True, names=[README], what="samples")
    stage = make_staging("abortscope-samples-")
    try:
        (stage / README).write_text(readme_text(out_dir))
        out.publish(stage / README, README)
        out.hand_over_created()
    finally:
        out.close()
        shutil.rmtree(stage, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m capture.samples", description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="where the bundles go (sample_pcaps)")
    parser.add_argument("--only", nargs="+", choices=sorted(SAMPLES), metavar="NAME", help="regenerate these only")
    parser.add_argument("--attempts", type=int, default=MAX_ATTEMPTS, help="runs per sample until it shows its story")
    parser.add_argument("--readme", action="store_true", help="only rewrite the README from the bundles on disk")
    parser.add_argument("--figures", action="store_true", help="only redraw the figures of the bundles on disk")
    args = parser.parse_args(argv)

    problems: dict[str, str] = {}
    if args.figures:
        for name in args.only or list(SAMPLES):
            if (args.out_dir / name / "meta.json").is_file():
                try:
                    print(f"{name}: {', '.join(write_figures(args.out_dir / name).written)}")
                except Exception as exc:  # noqa: BLE001 - one bad bundle must not stop the others
                    problems[name] = f"figures not drawn: {type(exc).__name__}: {exc}"
    elif not args.readme:
        for name in args.only or list(SAMPLES):
            unknown = missing_fields(SAMPLES[name])
            if unknown:
                problems[name] = f"skipped: ScenarioParams has no field {', '.join(unknown)} yet"
                print(f"{name}: {problems[name]}")
                continue
            try:
                wrong = generate(name, args.out_dir, args.attempts)
            except (NeedsRootError, MissingToolError) as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            except AbortscopeError as exc:
                problems[name] = f"run failed: {exc}"
                print(f"{name}: {problems[name]}")
                continue
            if wrong:
                problems[name] = f"kept the last run, which does not show its story ({'; '.join(wrong)})"
    _write_readme(args.out_dir)
    print(f"wrote {args.out_dir / README}")
    for name, problem in problems.items():
        print(f"PROBLEM {name}: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
