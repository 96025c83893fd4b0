"""One app.jsonl line (format: analysis/bundle.py), for the standalone server and client scripts.

Stdlib only: the scripts run under the invoking user's python, outside our
package, with this file staged beside them (capture.users.staged_for).
"""

import errno
import json
import os
import time

#: every line carries every key; the unused ones are null
KEYS = ("ts_ns", "actor", "impl", "pid", "event", "asked", "written", "error", "errno", "local", "remote", "detail")
FILE = os.path.abspath(__file__)


def emit(actor: str, impl: str, event: str, ts_ns: int | None = None, **fields) -> None:
    """Write one line to stdout with one write(2), so concurrent writers never interleave."""
    line = dict.fromkeys(KEYS)
    line.update(ts_ns=ts_ns or time.time_ns(), actor=actor, impl=impl, pid=os.getpid(), event=event)
    line.update(fields)
    os.write(1, (json.dumps(line) + "\n").encode())


def addr(sockaddr) -> str:
    """``ip:port``, IPv6 in brackets."""
    host, port = sockaddr[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def failure(exc: OSError) -> dict:
    """The error fields of a failed call: its text and symbolic errno."""
    return {"error": str(exc), "errno": errno.errorcode.get(exc.errno) if exc.errno else None}
