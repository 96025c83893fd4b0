"""What a sweep found, as a CSV, a markdown table and plain sentences (no I/O but the file writes).

    write_csv(rows, path); markdown_table(rows); explain(row); knobs(rows)

Cells of the table (:func:`cell`):

    8061 (8193 wire)   threshold: no app error at 8060, an app error from 8061 on;
                       bytes on the wire = head + chunk framing + body, measured from the capture
    always (EPIPE)     an app error at the smallest size tried; the errno the app got
    always (no write)  an app error with no write syscall at all (Node destroyed the response)
    never              no app error up to the largest size tried
    never (no write)   ... and the server made no write syscall (go -ctx-aware skipped it)
    never (EPIPE hidden)  a write syscall failed, but after the handler returned: the app never saw it
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

from capture.sweep.bisect import Outcome
from capture.sweep.facts import ProbeFacts
from capture.sweep.matrix import SweepRow

LEGEND = ("`N (W wire)`: no error at N-1, an error from N on, confirmed by fresh runs; W = head + chunk framing "
          "+ body bytes, measured from the capture. `always (ERRNO)`: an error at every size; `always (no write)`: "
          "the error came without any write syscall; `never`: no error up to the largest size; `never (EPIPE hidden)`: "
          "a write syscall failed after the handler returned, and the server dropped the error.")


def _at(row: SweepRow) -> ProbeFacts | None:
    return row.result.at


def _below(row: SweepRow) -> ProbeFacts | None:
    return row.result.below


#: CSV column -> how to get it from a row (declarative: the header is this table's keys)
CSV_COLUMNS: dict[str, Callable[[SweepRow], object]] = {
    "server": lambda r: r.server,
    "client": lambda r: r.client,
    "knob": lambda r: r.knob or "",
    "outcome": lambda r: r.result.outcome.value,
    "threshold_body_bytes": lambda r: r.result.threshold if r.result.outcome is not Outcome.NEVER else "",
    "threshold_wire_bytes": lambda r: r.wire_threshold or "",
    "head_bytes": lambda r: r.head.head_bytes if r.head else "",
    "chunked": lambda r: "" if r.head is None else r.head.chunked,
    "confirmed": lambda r: r.result.confirmed,
    "size_min": lambda r: r.result.lo,
    "size_max": lambda r: r.result.hi,
    "abort_after_s": lambda r: r.spec.abort_after_s,
    "sndbuf": lambda r: r.spec.sndbuf or "",
    "sndbuf_effective": lambda r: r.sndbuf_effective or "",
    "handler_delay_s": lambda r: r.spec.handler_delay_s,
    "app_error": lambda r: _at(r).app_error if _at(r) else "",
    "app_error_text": lambda r: (_at(r).app_error_text or "") if _at(r) else "",
    "syscall_errnos": lambda r: " ".join(_at(r).syscall_errnos) if _at(r) else "",
    "bytes_before_error": lambda r: _at(r).bytes_before_error if _at(r) else "",
    "write_syscalls": lambda r: _at(r).write_syscalls if _at(r) else "",
    "writes_after_peer_close": lambda r: " ".join(_at(r).writes_after_peer_close) if _at(r) else "",
    "peer_close": lambda r: (_at(r).peer_close or "") if _at(r) else "",
    "client_rst": lambda r: _at(r).client_rst if _at(r) else "",
    "below_app_error": lambda r: _below(r).app_error if _below(r) else "",
    "below_syscall_errnos": lambda r: " ".join(_below(r).syscall_errnos) if _below(r) else "",
    "probes": lambda r: len(r.result.probes),
    "bundle": lambda r: _at(r).bundle if _at(r) else "",
}


def write_csv(rows: Sequence[SweepRow], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow([get(row) for get in CSV_COLUMNS.values()])
    return path


def cell(row: SweepRow) -> str:
    """The short text of one matrix cell (legend in the module docstring)."""
    result, at = row.result, _at(row)
    if result.outcome is Outcome.THRESHOLD:
        wire = f" ({row.wire_threshold} wire)" if row.wire_threshold else ""
        return f"{result.threshold}{wire}" + ("" if result.confirmed else " ?")
    if result.outcome is Outcome.ALWAYS:
        if at is not None and at.write_syscalls == 0:
            return "always (no write)"
        return f"always ({at.app_errno or at.first_write_errno or 'error'})" if at else "always"
    if result.outcome is Outcome.NEVER:
        if at is not None and at.write_syscalls == 0:
            return "never (no write)"
        if at is not None and at.first_write_errno:
            return f"never ({at.first_write_errno} hidden)"
        return "never"
    why = at.failed or at.note if at is not None else None
    return result.outcome.value + (f": {why}" if why else "")


def markdown_table(rows: Sequence[SweepRow]) -> str:
    """Servers down, clients across; knob rows go to :func:`knob_table`."""
    grid = [r for r in rows if r.knob is None]
    servers = list(dict.fromkeys(r.server for r in grid))
    clients = list(dict.fromkeys(r.client for r in grid))
    cells = {(r.server, r.client): cell(r) for r in grid}
    lines = ["| server \\ client | " + " | ".join(clients) + " |", "|---" * (len(clients) + 1) + "|"]
    for server in servers:
        lines.append(f"| `{server}` | " + " | ".join(cells.get((server, c), "") for c in clients) + " |")
    if grid:
        lo, hi = grid[0].result.lo, grid[0].result.hi
        spec = grid[0].spec
        lines.append("")
        lines.append(f"Smallest body size (bytes) at which the handler sees a write error, searched in {lo}..{hi}; "
                     f"handler sleep {spec.handler_delay_s} s, client abort at {spec.abort_after_s} s.")  # fmt: skip
        lines.append("")
        lines.append(LEGEND)
    return "\n".join(lines)


def knob_table(rows: Sequence[SweepRow]) -> str:
    knob_rows = [r for r in rows if r.knob]
    if not knob_rows:
        return ""
    lines = ["| knob | server | client | abort after | SO_SNDBUF | result |", "|---|---|---|---|---|---|"]
    for r in knob_rows:
        lines.append(f"| {r.knob} | `{r.server}` | {r.client} | {r.spec.abort_after_s} s | {_sndbuf_text(r)} | {cell(r)} |")
    return "\n".join(lines)


# --- sentences ---------------------------------------------------------------------------


def _writes(facts: ProbeFacts) -> str:
    calls = facts.writes_after_peer_close
    if not calls:
        return "no write() after the peer closed"
    shown = ", ".join(c.replace("=", " -> ") for c in calls)
    return f"{len(calls)} write() call{'s' if len(calls) > 1 else ''} after the peer's {facts.peer_close} ({shown})"


def _probe_sentence(facts: ProbeFacts) -> str:
    if facts.app_error:
        app = f"the handler got \"{facts.app_error_text}\""
    else:
        app = "the handler saw no error"
    if facts.first_write_errno:
        when = "while the handler was still writing" if facts.failed_write_in_handler else "after the handler had returned"
        syscall = f"the failing write ({facts.first_write_errno}) came {when}"
    elif facts.write_syscalls == 0:
        syscall = "the server made no write syscall at all"
    else:
        syscall = "no write syscall failed"
    return f"N={facts.size}: {_writes(facts)}; {syscall}; {app}."


def explain(row: SweepRow) -> list[str]:
    """Plain sentences for one sweep: the threshold, both confirmation runs, what relates them."""
    result, at, below = row.result, _at(row), _below(row)
    name = f"{row.server} + {row.client}" + (f" ({row.knob}, abort at {row.spec.abort_after_s} s)" if row.knob else "")
    lines: list[str] = []
    if result.outcome is Outcome.THRESHOLD:
        wire = ""
        if row.wire_threshold and row.head:
            framing = f" + {row.head.chunk_line_bytes}-byte chunk line + 2-byte CRLF" if row.head.chunked else ""
            wire = f" = {row.wire_threshold} bytes on the wire ({row.head.head_bytes}-byte head{framing} + body)"
        state = "confirmed" if result.confirmed else "NOT confirmed"
        lines.append(f"{name}: threshold N = {result.threshold} body bytes{wire}; {state} by fresh runs at "
                     f"{result.threshold - 1} and {result.threshold}.")  # fmt: skip
        if below is not None:
            lines.append(_probe_sentence(below))
        if at is not None:
            lines.append(_probe_sentence(at))
        lines.append(_relation(row))
    elif result.outcome is Outcome.ALWAYS:
        lines.append(f"{name}: always: the handler sees an error at every size from {result.lo} on.")
        if at is not None:
            lines.append(_probe_sentence(at))
            if at.write_syscalls == 0:
                lines.append("The server destroyed the response when the peer closed: the handler's write failed "
                             "without reaching the kernel (no write syscall), whatever the size.")  # fmt: skip
    elif result.outcome is Outcome.NEVER:
        lines.append(f"{name}: never: no error reached the handler up to {result.hi} bytes.")
        if at is not None:
            lines.append(_probe_sentence(at))
    elif result.outcome is Outcome.UNSTABLE and result.contradicted_by:
        lines.append(f"{name}: unstable: no threshold is reported, because the probes contradict each other "
                     f"(sizes {', '.join(map(str, result.contradicted_by))} disagree with the rest).")  # fmt: skip
    else:
        why = (at.failed or at.note) if at is not None else None
        lines.append(f"{name}: {result.outcome.value}" + (f" ({why})" if why else "") + ".")
    return [line for line in lines if line]


def _calls(facts: ProbeFacts) -> list[tuple[int | None, str]]:
    """(bytes asked, result) of each write after the peer closed; result is bytes written or an errno."""
    calls = []
    for text in facts.writes_after_peer_close:
        asked, _, result = text.partition("=")
        calls.append((int(asked) if asked.isdigit() else None, result))
    return calls


def _relation(row: SweepRow) -> str:
    """Relate the threshold to the data: which write failed, and why one more byte needs it."""
    at, below, wire = _at(row), _below(row), row.wire_threshold
    calls = _calls(at) if at is not None else []
    failing = next((i for i, (_, result) in enumerate(calls) if result.startswith("E")), None)
    if at is None or failing is None:
        return ""
    sizes = [asked for asked, _ in calls[: failing + 1]]
    flushed = sum(a or 0 for a in sizes)
    errno = calls[failing][1]
    if failing == 0:
        seen = f" (a read had already failed with {', '.join(at.read_errnos)})" if at.read_errnos else ""
        text = (f"The first write() after the peer's {at.peer_close} already failed with {errno}{seen}: "
                f"no write was accepted first.")  # fmt: skip
    else:
        same = len(set(sizes)) == 1
        each = f"of {sizes[0]} bytes" if same else f"({' + '.join(map(str, sizes))} bytes)"
        shown = f"{len(sizes)} write() calls {each}"
        text = (f"{shown} after the peer's {at.peer_close}: the first {at.bytes_before_error} bytes were accepted, "
                f"the peer's kernel answered them with a RST, and the next write failed with {errno}.")  # fmt: skip
    if below is not None and below.first_write_errno and not below.app_error:
        text += (f" At N={below.size} that write came only after the handler had returned, and the server "
                 f"dropped its error: the threshold is the first size that needs write number {failing + 1} "
                 f"while the handler is still writing")  # fmt: skip
        if wire and len(set(sizes)) == 1:
            text += f" ({wire} bytes on the wire > {flushed} = {len(sizes)} x {sizes[0]})"
        elif wire:
            # uneven writes (a Write larger than the buffer goes out whole): compare with what N-1 wrote
            fitted = sum(a or 0 for a, _ in _calls(below))
            text += f" ({wire} bytes on the wire > {fitted} written at N={below.size})" if fitted else ""
        return text + "."
    if below is not None and not below.first_write_errno:
        text += (f" At N={below.size} no write failed: the response fitted in what was accepted; the "
                 f"threshold is the first size that needs one more write after the peer closed")  # fmt: skip
        if wire:
            text += f" ({wire} bytes on the wire > {at.bytes_before_error} accepted)"
        return text + "."
    return text


def _find(rows: Sequence[SweepRow], server: str, client: str, knob: str | None = None) -> SweepRow | None:
    return next((r for r in rows if r.server == server and r.client == client and r.knob == knob), None)


def knobs(rows: Sequence[SweepRow], client: str = "curl") -> list[str]:
    """"How can I change it?": what each knob did in these measurements, and the real fix."""
    lines = []
    raw = [r for r in rows if r.server.startswith("python-raw") and r.client == client and r.knob is None]
    if raw:
        shown = "; ".join(f"{r.spec.write_size} -> {cell(r)}" for r in raw)
        lines.append(f"Server write size (python-raw -write-size, {client}): {shown}. The first write after the "
                     f"peer's FIN is accepted, the next one fails: the threshold moves with the write size.")  # fmt: skip
    chunked, plain = _find(rows, "go", client), _find(rows, "go -content-length", client)
    if chunked and plain:
        lines.append(f"Content-Length vs chunked (go, {client}): chunked {cell(chunked)}, Content-Length {cell(plain)}. "
                     f"Chunked framing adds the chunk-size line and CRLF to the same 2 x 4096-byte budget.")  # fmt: skip
    late = next((r for r in rows if r.knob == "abort after the write"), None)
    if late:
        lines.append(f"Abort timing (go, {late.client}, abort at {late.spec.abort_after_s} s, after the handler's "
                     f"{late.spec.handler_delay_s} s sleep): {cell(late)}. A client that gives up after the "
                     f"response was written never makes the handler's write fail.")  # fmt: skip
    lines += sndbuf_lines(rows)
    fix = _find(rows, "go -ctx-aware", client)
    if fix:
        lines.append(f"The real fix: check r.Context() before writing (go -ctx-aware): {cell(fix)}. net/http's "
                     f"background read sees the FIN and cancels the request's context, so the handler skips the "
                     f"write instead of writing to a closed connection.")  # fmt: skip
    return lines


# --- SO_SNDBUF ---------------------------------------------------------------------------


def _sndbuf_text(row: SweepRow) -> str:
    """`4096 (8192 effective)`: asked, and what the server read back (Linux doubles it); `default`: not set."""
    asked = str(row.spec.sndbuf) if row.spec.sndbuf else "default"
    return asked + (f" ({row.sndbuf_effective} effective)" if row.sndbuf_effective else "")


def _partial_send(facts: ProbeFacts | None) -> tuple[int, int] | None:
    """(asked, accepted) of the first write after the peer closed that the kernel accepted only in part."""
    for asked, result in _calls(facts) if facts is not None else []:
        if asked is not None and result.isdigit() and int(result) < asked:
            return asked, int(result)
    return None


def _sndbuf_why(row: SweepRow) -> str:
    at = _at(row)
    partial = _partial_send(at)
    if partial:
        asked, accepted = partial
        failed = next((result for _, result in _calls(at) if result.startswith("E")), "an error")
        return (f"with SO_SNDBUF {_sndbuf_text(row)} a blocking send() of {asked} bytes returned after {accepted} "
                f"(a partial send: the small buffer was full, and the peer's RST ended the wait), so the next send "
                f"failed with {failed}; the threshold follows the bytes accepted, not the write size")  # fmt: skip
    if at is not None and at.writes_after_peer_close:
        shown = ", ".join(c.replace("=", " -> ") for c in at.writes_after_peer_close)
        return (f"with SO_SNDBUF {_sndbuf_text(row)} every write after the peer closed was accepted whole "
                f"or failed outright ({shown}), so the buffer size never cut a write short")  # fmt: skip
    return "no write after the peer closed to compare"


def sndbuf_lines(rows: Sequence[SweepRow]) -> list[str]:
    """"How can I change it?" for the kernel send buffer: each SO_SNDBUF row against the same row without it."""
    tuned = [r for r in rows if r.spec.sndbuf]
    if not tuned:
        return ["Kernel send buffer (SO_SNDBUF): not measured in this sweep (matrix knob rows, or "
                "`--sndbuf N` with go or python-raw, measure it)."]  # fmt: skip
    lines = []
    for spec_without in dict.fromkeys(r.spec.with_(sndbuf=0) for r in tuned):
        group = [r for r in tuned if r.spec.with_(sndbuf=0) == spec_without]
        base = next((r for r in rows if r.spec == spec_without), None)
        name = f"{spec_without.label()} + {spec_without.client}"
        parts = [f"default -> {cell(base)}"] if base else []
        parts += [f"{_sndbuf_text(r)} -> {cell(r)}" for r in group]
        if base is None:
            verdict = "no run without SO_SNDBUF in this sweep to compare (sweep again without --sndbuf)"
        else:
            moved = any(r.result.outcome != base.result.outcome or r.result.threshold != base.result.threshold for r in group)
            verdict = "the threshold moved" if moved else "the threshold did not move"
        whys = "; ".join(dict.fromkeys(_sndbuf_why(r) for r in group))
        lines.append(f"Kernel send buffer (SO_SNDBUF, {name}): {', '.join(parts)}: {verdict}; {whys}.")
    return lines
