"""The socket clients (socket-fin, socket-rst, half-close): socket_client.py in a child process.

A separate process, so it runs as the invoking user and can be killed by
pid like any other child. It times its own abort (from connect()) and
appends its own app.jsonl lines; the result is read back from that file.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from capture import app_line
from capture.clients.spec import ClientError, ClientResult, ClientSpec
from capture.procs import ProcessError, running
from capture.servers.events import read_app_events
from capture.users import PrivilegeError, User, python_for, staged_for

SCRIPT = Path(__file__).resolve().parent / "socket_client.py"
APP_LINE = Path(app_line.FILE)  # staged beside the script, which imports it
MODES = {"socket-fin": "fin", "socket-rst": "rst", "half-close": "half-close", "refused": "refused"}
STARTUP_ALLOWANCE_S = 10.0  # interpreter start and connect, on a loaded CI machine


def socket_client_argv(spec: ClientSpec, script: Path, user: User) -> list[str]:
    return [
        python_for(user), "-E", "-s", "-S", str(script), "--mode", MODES[spec.impl],
        "--host", spec.host, "--port", str(spec.port), "--path", spec.path,
        "--abort-after", str(spec.abort_after_s), "--read-timeout", str(spec.read_timeout_s),
    ]  # fmt: skip


def run_socket_client(spec: ClientSpec, user: User) -> ClientResult:
    with staged_for(user, [SCRIPT, APP_LINE]) as (script, _), tempfile.TemporaryFile() as errors, tempfile.NamedTemporaryFile(suffix=".jsonl") as scratch:
        app_log = Path(spec.app_log) if spec.app_log is not None else Path(scratch.name)
        bound = spec.abort_after_s + spec.read_timeout_s + STARTUP_ALLOWANCE_S
        with open(app_log, "ab") as out:
            try:
                argv = socket_client_argv(spec, script, user)
                with running(argv, user=user, stdout=out, stderr=errors) as child:
                    try:
                        child.wait(bound)
                    except ProcessError as exc:
                        raise ClientError(f"{spec.impl} client did not finish in {bound:.1f} s") from exc
            except (ProcessError, PrivilegeError) as exc:
                raise ClientError(str(exc)) from exc
            ended_ns = time.time_ns()
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
        events = read_app_events(app_log, pid=child.pid)
    abort = next((e for e in events if e["event"] in ("abort", "shutdown")), None)
    return ClientResult(
        impl=spec.impl, pid=child.pid, argv=argv, uid=user.uid, returncode=child.returncode,
        started_ns=child.started_ns, abort_ns=abort["ts_ns"] if abort else None, ended_ns=ended_ns,
        bytes_received=sum(e["written"] or 0 for e in events if e["event"] == "read"),
        events=tuple(events), stderr=stderr,
    )  # fmt: skip
