"""The `python` server: stdlib http.server, the handler sleeps, then headers, then the body.

Run as a script (stdlib only, so it runs under any python3 as any user):

    python3 python_http.py --host 127.0.0.1 --port 3000 --size 8061 --delay 1.0

`end_headers()` flushes the status line and headers as one write; the body
follows in one `wfile.write` (an unbuffered socket writer: `sendall`). Each
of the two writes is logged as one JSON line on stdout (app.jsonl format,
see analysis/bundle.py), with its errno when it fails; the handler stops at
the first failed write, as a real handler whose write raised would.
"""

from __future__ import annotations

import argparse
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import app_line  # staged beside this script (capture/app_line.py)
from app_line import addr, failure

IMPL = "python"


def emit(event: str, **fields) -> None:
    app_line.emit("server", IMPL, event, **fields)


class SleepThenWrite(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive with a Content-Length, like net/http
    size = 8061
    delay_s = 1.0

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.ends = ends = {"local": addr(self.connection.getsockname()), "remote": addr(self.client_address)}
        emit("request", detail=f"{self.command} {self.path}", **ends)
        time.sleep(self.delay_s)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(self.size))
        try:
            self.end_headers()  # -> flush_headers: one write of the whole header block
            self.logged_write(bytes(self.size), "body")
        except OSError:  # logged by logged_write; the connection is done for
            self.close_connection = True
            emit("response", detail="handler returned after a failed write", **ends)
            return
        emit("response", detail="handler returned", **ends)

    def flush_headers(self) -> None:
        block = b"".join(getattr(self, "_headers_buffer", []))
        self._headers_buffer = []
        self.logged_write(block, "headers")

    def logged_write(self, data: bytes, what: str) -> None:
        try:
            self.wfile.write(data)
        except OSError as exc:
            emit("write_error", asked=len(data), detail=what, **failure(exc), **self.ends)
            raise
        emit("write", asked=len(data), written=len(data), detail=what, **self.ends)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--size", type=int, default=8061, help="body bytes")
    parser.add_argument("--delay", type=float, default=1.0, help="handler sleep before writing, seconds")
    args = parser.parse_args()
    SleepThenWrite.size, SleepThenWrite.delay_s = args.size, args.delay
    ThreadingHTTPServer.address_family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    server = ThreadingHTTPServer((args.host, args.port), SleepThenWrite)
    server.daemon_threads = True
    emit("listening", local=addr(server.socket.getsockname()))
    server.serve_forever()


if __name__ == "__main__":
    main()
