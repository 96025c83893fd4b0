"""One probe: one harness run at one body size, and the facts its bundle holds.

    facts = run_probe(ProbeSpec(server="go", client="curl", size=8061, out_dir=Path("runs/p")))
    python -m capture.sweep.probe --server go --client curl --size 8061 --out runs/p   # prints the facts as JSON

``run_scenario`` installs signal handlers, which only the main thread may
do, so parallel probes run in worker *processes* (capture.sweep.pool), each
probe in its own bundle directory on its own free port (the harness picks
it and retries when another probe took it first).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from analysis.api import load
from analysis.bundle_outputs import AfterRun
from analysis.errors import AbortscopeError
from analysis.timeline import Timeline
from capture.privileges import MissingToolError, NeedsRootError
from capture.scenario import RunInterrupted, ScenarioParams, run_scenario
from capture.server_options import ServerOptions
from capture.sweep.facts import PROBE_READ, ProbeFacts, facts_of

#: sweep defaults: a short handler sleep keeps probes ~1 s; the abort lands well before the write
SWEEP_HANDLER_DELAY_S = 0.2
SWEEP_ABORT_AFTER_S = 0.05


@dataclass(frozen=True)
class ProbeSpec(ServerOptions):
    """A scenario without its size and bundle: what one row/cell of a sweep varies (the server's options: the
    inherited ServerOptions fields)."""

    server: str = "go"
    client: str = "curl"
    host: str = "127.0.0.1"
    abort_after_s: float = SWEEP_ABORT_AFTER_S
    handler_delay_s: float = SWEEP_HANDLER_DELAY_S
    capture: str = "tcpdump"
    strace: bool = True  #: the syscall facts need it
    kernel: bool = False  #: tracepoints add ~0.2 s per probe and no fact the sweep uses

    def params(self, size: int, out_dir: Path) -> ScenarioParams:
        return ScenarioParams(out_dir=Path(out_dir), size=size, **asdict(self))

    def label(self) -> str:
        """The server as a user would type it: `go -content-length`, `python-raw -write-size 1024`."""
        return " ".join([self.server, *self.label_words()])

    def required_tools(self) -> list[str]:
        """The programs a probe of this spec runs (its scenario's)."""
        return self.params(0, Path(".")).required_tools()

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "ProbeSpec":
        data = json.loads(text)
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def with_(self, **changes) -> "ProbeSpec":
        return replace(self, **changes)


def run_probe(spec: ProbeSpec, size: int, out_dir: Path) -> ProbeFacts:
    """Run the scenario once at ``size`` and read its facts (a failed run: facts that say why).

    The facts are read from the run's private staging directory (its after-run
    hook), before the bundle is published. RunInterrupted (Ctrl-C, SIGTERM)
    and a missing root/tool propagate.
    """
    started = time.monotonic()
    read: list[ProbeFacts] = []

    def facts_of(stage: Path) -> AfterRun:
        facts, timeline = _facts_or_failure(stage, size)
        read.append(facts)
        return AfterRun([], timeline)  # the run's summary is a view of the same Timeline

    try:
        run_scenario(spec.params(size, out_dir), after_run=facts_of)
    except RunInterrupted:
        raise
    except (NeedsRootError, MissingToolError):
        raise
    except AbortscopeError as exc:
        read = [ProbeFacts(size=size, app_error=False, interrupted=True, failed=f"{type(exc).__name__}: {exc}",
                           note=f"{type(exc).__name__}: {exc}")]  # fmt: skip
    facts = read[0] if read else ProbeFacts(size=size, app_error=False, failed="the run ended before its facts were read")
    return replace(facts, bundle=str(out_dir), elapsed_s=time.monotonic() - started)


def _facts_or_failure(stage: Path, size: int) -> tuple[ProbeFacts, Timeline | None]:
    """The facts of the staged bundle and the Timeline they are a view of (None: it could not be loaded)."""
    timeline = None
    try:
        timeline = load(stage, read=PROBE_READ)
        return facts_of(timeline, stage, size), timeline
    except (AbortscopeError, OSError, ValueError) as exc:
        failed = f"unreadable bundle: {exc}"
        return ProbeFacts(size=size, app_error=False, failed=failed, note=failed), timeline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="One sweep probe: run the scenario once, print its facts as JSON.")
    parser.add_argument("--spec", default=None, help="a ProbeSpec as JSON (the other flags override it)")
    parser.add_argument("--server", default=None)
    parser.add_argument("--client", default=None)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    spec = ProbeSpec.from_json(args.spec) if args.spec else ProbeSpec()
    spec = spec.with_(**{k: v for k, v in (("server", args.server), ("client", args.client)) if v is not None})
    try:
        facts = run_probe(spec, args.size, args.out)
    except RunInterrupted as exc:
        print(f"probe interrupted: {exc}", file=sys.stderr)
        return 130
    except AbortscopeError as exc:
        print(f"probe failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(facts.as_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
