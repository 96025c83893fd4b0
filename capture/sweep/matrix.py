"""Sweeps: one server/client pair (``run_sweep``) or the matrix of them (``run_matrix``).

    row = run_sweep(ProbeSpec(server="go", client="curl"), lo=7000, hi=9000, out_dir=Path("runs/sweep"))
    rows = run_matrix(servers=DEFAULT_SERVERS, clients=DEFAULT_CLIENTS, lo=1, hi=32768, out_dir=...)

Each row is a :class:`SweepRow`: the search's :class:`~capture.sweep.bisect.Threshold`
plus the response head measured from the threshold probe's capture, which
turns the body threshold into bytes on the wire. The axes are data
(:data:`DEFAULT_SERVERS`, :data:`DEFAULT_CLIENTS`, :data:`KNOB_ROWS`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from capture.server_options import parse_label
from capture.sweep.bisect import Outcome, Threshold, search
from capture.sweep.facts import ProbeFacts
from capture.sweep.pool import Job, ProbeCallback, ProbePool, drive
from capture.sweep.probe import ProbeSpec
from capture.sweep.wire import ResponseHead

@dataclass(frozen=True)
class ServerVariant:
    """A matrix row: a server and the options it runs with."""

    label: str
    server: str
    options: tuple[tuple[str, object], ...] = ()

    def spec(self, base: ProbeSpec, client: str) -> ProbeSpec:
        return base.with_(server=self.server, client=client, **dict(self.options))

def variant(label: str, server: str, **options) -> ServerVariant:
    return ServerVariant(label, server, tuple(options.items()))

#: the matrix rows: every server, and the server-side knobs that move the threshold
DEFAULT_SERVERS: tuple[ServerVariant, ...] = (
    variant("go", "go"),
    variant("go -content-length", "go", content_length=True),
    variant("go -ctx-aware", "go", ctx_aware=True),
    variant("python", "python"),
    variant("python-raw -write-size 1024", "python-raw", write_size=1024),
    variant("python-raw -write-size 4096", "python-raw", write_size=4096),
    variant("python-raw -write-size 16384", "python-raw", write_size=16384),
    variant("node", "node"),
)
DEFAULT_CLIENTS: tuple[str, ...] = ("curl", "socket-fin", "socket-rst", "half-close", "browser")
SERVERS_BY_LABEL = {v.label: v for v in DEFAULT_SERVERS}
#: extra rows for the "how to change it" knobs the matrix does not vary: (label, server, client, spec changes).
#: SO_SNDBUF: a send() is accepted up to the first 32 KiB skb whatever the buffer, so only a write larger
#: than that can be cut short by a small buffer; the 65536-byte rows need sizes past 65536 (``max_size``).
SNDBUF_SMALL = 4096
KNOB_ROWS: tuple[tuple[str, ServerVariant, str, dict], ...] = (
    ("abort after the write", DEFAULT_SERVERS[0], "curl", {"abort_after_s": None}),  # None: handler delay + 0.15 s
    (f"SO_SNDBUF {SNDBUF_SMALL}", DEFAULT_SERVERS[0], "curl", {"sndbuf": SNDBUF_SMALL}),
    (f"SO_SNDBUF {SNDBUF_SMALL}", SERVERS_BY_LABEL["python-raw -write-size 16384"], "socket-fin", {"sndbuf": SNDBUF_SMALL}),
    ("SO_SNDBUF 16384", SERVERS_BY_LABEL["python-raw -write-size 16384"], "socket-fin", {"sndbuf": 16384}),
    ("SO_SNDBUF default", variant("python-raw -write-size 65536", "python-raw", write_size=65536), "socket-fin",
     {"max_size": 70000}),
    (f"SO_SNDBUF {SNDBUF_SMALL}", variant("python-raw -write-size 65536", "python-raw", write_size=65536), "socket-fin",
     {"sndbuf": SNDBUF_SMALL, "max_size": 70000}),
)  # fmt: skip
LATE_ABORT_MARGIN_S = 0.15

@dataclass(frozen=True)
class SweepRow:
    server: str  #: the server variant's label
    client: str
    spec: ProbeSpec
    result: Threshold
    head: ResponseHead | None = None  #: measured from the threshold probe's capture
    knob: str | None = None  #: set for the extra knob rows
    sndbuf_effective: int | None = None  #: SO_SNDBUF the server read back (app.jsonl accept event), when it logged one

    @property
    def wire_threshold(self) -> int | None:
        """The threshold in bytes on the wire (head and chunk framing included)."""
        if self.head is None or self.result.threshold is None or self.result.outcome is Outcome.NEVER:
            return None
        return self.head.wire_bytes(self.result.threshold)

    @property
    def key(self) -> str:
        return f"{self.server} | {self.client}" + (f" | {self.knob}" if self.knob else "")

def parse_server(text: str) -> ServerVariant:
    """`go`, `go -content-length`, `python-raw -write-size 1024` (the labels of the table) -> a variant."""
    if text in SERVERS_BY_LABEL:
        return SERVERS_BY_LABEL[text]
    server, options = parse_label(text)
    return variant(text, server, **options)


def required_tools(servers: Sequence[ServerVariant], clients: Sequence[str], base: ProbeSpec, matrix: bool) -> list[str]:
    """The programs a sweep runs: each probe's (its capture, strace, its server's and client's)."""
    specs = [s.spec(base, c) for s in servers for c in clients] if matrix else [base]
    return list(dict.fromkeys(tool for spec in specs for tool in spec.required_tools()))

def estimated_probes(lo: int, hi: int, fanout: int = 1) -> int:
    """Probes a search usually takes (for a progress bar): ends, rounds, confirmation."""
    span, rounds = max(1, hi - lo), 0
    while span > 1:
        span = -(-span // (fanout + 1))
        rounds += fanout
    return 2 + rounds + 2

def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")

#: a client that reads the whole response: its capture holds the server's head even when
#: the row's own client made the server fail before any byte left (socket-rst)
HEAD_PROBE_CLIENT = "half-close"


def _measured_head(facts: ProbeFacts | None) -> ResponseHead | None:
    """The response head the probe measured in its own capture (see capture.sweep.facts)."""
    return ResponseHead(**facts.head) if facts is not None and facts.head else None


def _measure_heads(rows: list[SweepRow], pool: ProbePool, out_dir: Path) -> list[SweepRow]:
    """The head of each row's threshold probe; without one, a half-close run of the same server at that size."""
    heads = [_measured_head(r.result.at) for r in rows]
    missing = {}
    for i, (row, head) in enumerate(zip(rows, heads)):
        wrote = row.result.at is not None and row.result.at.write_syscalls > 0
        if head is None and wrote and row.result.outcome in (Outcome.THRESHOLD, Outcome.ALWAYS):
            spec = row.spec.with_(client=HEAD_PROBE_CLIENT, abort_after_s=row.spec.handler_delay_s + LATE_ABORT_MARGIN_S)
            where = Path(out_dir) / _slug(row.key) / f"head-n{row.result.threshold}"
            missing[i] = pool.submit(spec, row.result.threshold, where)
    for i, future in missing.items():
        heads[i] = _measured_head(ProbeFacts.from_dict(future.result()))
    return [SweepRow(r.server, r.client, r.spec, r.result, head, r.knob, r.result.at.sndbuf_effective if r.result.at else None)
            for r, head in zip(rows, heads)]  # fmt: skip


def run_jobs(rows: Sequence[tuple[str, ServerVariant, str, ProbeSpec, str | None]], lo: int, hi: int, out_dir: Path,
             workers: int | None, fanout: int, on_probe: ProbeCallback | None,
             row_max: dict[str, int] | None = None) -> list[SweepRow]:
    """``row_max``: a larger top of the range for some rows (by key), e.g. the 65536-byte SO_SNDBUF rows."""
    jobs = []
    for key, server, client, spec, knob in rows:
        top = max(hi, (row_max or {}).get(key, hi))
        jobs.append(Job(key, spec, search(lo, top, fanout=fanout), Path(out_dir) / _slug(key)))
    with ProbePool(workers) as pool:
        results = drive(jobs, pool, on_probe)
        rows_out = [SweepRow(server.label, client, spec, results[key], knob=knob) for key, server, client, spec, knob in rows]
        return _measure_heads(rows_out, pool, out_dir)


def run_sweep(spec: ProbeSpec, lo: int, hi: int, out_dir: Path, *, label: str | None = None,
              workers: int | None = None, on_probe: ProbeCallback | None = None) -> SweepRow:
    """One server/client pair; its rounds use every worker (fanout = workers)."""
    server = variant(label or spec.label(), spec.server)
    pool_workers = ProbePool(workers).workers
    key = f"{server.label} | {spec.client}"
    return run_jobs([(key, server, spec.client, spec, None)], lo, hi, out_dir, workers, max(1, pool_workers), on_probe)[0]

def matrix_rows(servers: Sequence[ServerVariant], clients: Sequence[str], base: ProbeSpec, knobs: bool) -> list:
    rows = [(f"{s.label} | {c}", s, c, s.spec(base, c), None) for s in servers for c in clients]
    if knobs:
        for knob, server, client, changes in KNOB_ROWS:
            changes = {k: v for k, v in changes.items() if k != "max_size"}
            if changes.get("abort_after_s", 0) is None:
                changes = {**changes, "abort_after_s": round(base.handler_delay_s + LATE_ABORT_MARGIN_S, 3)}
            rows.append((f"{server.label} | {client} | {knob}", server, client, server.spec(base, client).with_(**changes), knob))
    return rows


def knob_row_max(knobs: bool) -> dict[str, int]:
    """Row key -> the top of its search range, for the knob rows that need sizes past the matrix's max."""
    if not knobs:
        return {}
    return {f"{server.label} | {client} | {knob}": changes["max_size"]
            for knob, server, client, changes in KNOB_ROWS if "max_size" in changes}  # fmt: skip

def run_matrix(servers: Sequence[ServerVariant] = DEFAULT_SERVERS, clients: Sequence[str] = DEFAULT_CLIENTS, *,
               lo: int = 1, hi: int = 32768, out_dir: Path, base: ProbeSpec = ProbeSpec(), knobs: bool = True,
               workers: int | None = None, on_probe: ProbeCallback | None = None) -> list[SweepRow]:
    """Every server x client (plus the knob rows), probes in parallel across cells."""
    return run_jobs(matrix_rows(servers, clients, base, knobs), lo, hi, out_dir, workers, 1, on_probe, knob_row_max(knobs))

def total_probes(rows: int, lo: int, hi: int, fanout: int = 1) -> int:
    return rows * estimated_probes(lo, hi, fanout)
