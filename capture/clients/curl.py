"""The `curl` client: the real curl binary, interrupted with SIGINT like a Ctrl-C.

``curl -q -v --no-progress-meter --noproxy '*' http://HOST:PORT/`` starts in
a process group of its own with SIGINT at its default disposition (see
:mod:`capture.procs`: a child of a background job would otherwise ignore
it, and then the "Ctrl-C" would do nothing). After ``abort_after_s`` the
harness sends SIGINT to curl's pid; the kernel then closes curl's socket
(FIN), exactly as in the user's terminal.

curl cannot write app.jsonl lines itself, so the harness writes them on its
behalf (actor "client", impl "curl", pid = curl's pid): ``abort`` (with the
socket's local/remote address, read from /proc just before the signal) and
``exit`` (exit status, signal, the ``*``/``>``/``<`` lines of ``-v``).
"""

from __future__ import annotations

import json
import shutil
import signal
import tempfile
import time

from capture.clients.spec import ClientError, ClientResult, ClientSpec
from capture.procs import Child, ProcessError, connections_of, format_addr, running
from capture.users import User

EXIT_WAIT_S = 5.0  # a SIGINT'd curl exits at once; past this it is killed and the run says so
TRACE_CHARS = 2000


def curl_argv(spec: ClientSpec) -> list[str]:
    curl = shutil.which("curl")
    if curl is None:
        raise ClientError("the curl client needs curl: apt-get install curl")
    url = f"http://{format_addr(spec.host, spec.port)}{spec.path}"
    # -q: ignore ~/.curlrc; --noproxy: an http_proxy in the environment must not reroute loopback
    argv = [curl, "-q", "-v", "--no-progress-meter", "--noproxy", "*"]
    return argv + (["-g"] if ":" in spec.host else []) + [url]


def _event(pid: int, event: str, ts_ns: int, **fields) -> dict:
    line = {"ts_ns": ts_ns, "actor": "client", "impl": "curl", "pid": pid, "event": event, "asked": None,
            "written": None, "error": None, "errno": None, "local": None, "remote": None, "detail": None}  # fmt: skip
    line.update(fields)
    return line


def _trace_summary(stderr: str) -> str:
    kept = [line for line in stderr.splitlines() if line[:2] in ("* ", "> ", "< ")]
    return " | ".join(kept)[:TRACE_CHARS]


def _exit_detail(returncode: int | None, aborted: bool) -> str:
    if returncode is None:
        return "curl did not exit"
    if returncode < 0:
        return f"curl killed by {signal.Signals(-returncode).name} (status {returncode})"
    return f"curl exited with status {returncode}" + ("" if aborted else " before the abort")


def _abort_after(child: Child, spec: ClientSpec, events: list[dict]) -> int | None:
    """SIGINT to curl after ``spec.abort_after_s`` unless it finished first; when it was sent (epoch ns)."""
    started = time.monotonic()
    try:
        child.wait(spec.abort_after_s)
    except ProcessError:  # still running at the abort time: the normal case
        pass
    elapsed = time.monotonic() - started
    if child.poll() is not None:
        return None
    server = format_addr(spec.host, spec.port)
    ends = [s for s in connections_of(child.pid) if s.remote == server]
    abort_ns = time.time_ns()
    child.send_signal(signal.SIGINT)
    events.append(_event(child.pid, "abort", abort_ns, local=ends[0].local if ends else None,
                         remote=ends[0].remote if ends else None,
                         detail=f"SIGINT to curl after {elapsed:.3f} s (Ctrl-C)"))  # fmt: skip
    try:
        child.wait(EXIT_WAIT_S)
    except ProcessError:
        pass
    return abort_ns


def run_curl(spec: ClientSpec, user: User) -> ClientResult:
    argv = curl_argv(spec)
    events, abort_ns = [], None
    with tempfile.TemporaryFile() as body, tempfile.TemporaryFile() as trace:
        try:
            with running(argv, user=user, stdout=body, stderr=trace) as child:
                abort_ns = _abort_after(child, spec, events)
        except ProcessError as exc:
            raise ClientError(str(exc)) from exc
        ended_ns = time.time_ns()
        body.seek(0, 2)
        trace.seek(0)
        stderr = trace.read().decode(errors="replace")
        events.append(_event(child.pid, "exit", ended_ns, detail=f"{_exit_detail(child.returncode, abort_ns is not None)}; {_trace_summary(stderr)}"))
        received = body.tell()
    if spec.app_log is not None:
        with open(spec.app_log, "ab") as log:
            for event in events:
                log.write((json.dumps(event) + "\n").encode())
    return ClientResult(
        impl="curl", pid=child.pid, argv=argv, uid=user.uid, returncode=child.returncode, started_ns=child.started_ns,
        abort_ns=abort_ns, ended_ns=ended_ns, bytes_received=received, events=tuple(events), stderr=stderr,
    )  # fmt: skip
