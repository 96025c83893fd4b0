"""The `python-raw` server: a plain socket server that sends its response in fixed-size writes.

Run as a script (stdlib only):

    python3 python_raw.py --host 127.0.0.1 --port 3000 --size 8061 --delay 1.0 --write-size 4096

It reads the request (up to the blank line), sleeps, then sends the status
line, headers and N body bytes as consecutive `send()` calls of
`--write-size` bytes each, and logs every call's result as a JSON line on
stdout (app.jsonl format, see analysis/bundle.py). It shows how the
server's own buffering moves the point where a write first fails.

A failed send keeps its errno (ECONNRESET when the RST was already in,
EPIPE once the socket is dead). By default every planned chunk is still
attempted once (that is how the ECONNRESET-then-EPIPE sequence shows);
`--stop-on-error` stops at the first failure like a typical send loop.

`--sndbuf N` sets SO_SNDBUF on the accepted connection (0: the kernel's
default, autotuned). Linux doubles the value asked for (the extra half is
bookkeeping overhead) and clamps it to [4608, net.core.wmem_max * 2]; the
`accept` event's detail carries the effective value read back with
getsockopt, so a run says what it measured with.
"""

from __future__ import annotations

import argparse
import errno
import socket
import threading
import time

import app_line  # staged beside this script (capture/app_line.py)
from app_line import addr

IMPL = "python-raw"
MAX_REQUEST_BYTES = 64 * 1024


def emit(event: str, **fields) -> None:
    app_line.emit("server", IMPL, event, **fields)


def read_request(conn: socket.socket, ends: dict) -> bool:
    """Read up to the end of the request head; False when the peer closed or reset first."""
    head = b""
    while b"\r\n\r\n" not in head and len(head) < MAX_REQUEST_BYTES:
        try:
            chunk = conn.recv(4096)
        except OSError as exc:
            emit("read_error", error=str(exc), errno=errno.errorcode.get(exc.errno), **ends)
            return False
        if not chunk:
            emit("read_eof", detail=f"peer closed after {len(head)} request bytes", **ends)
            return False
        head += chunk
    emit("request", detail=head.split(b"\r\n", 1)[0].decode(errors="replace"), **ends)
    return True


def response(size: int) -> bytes:
    head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {size}\r\nConnection: close\r\n\r\n")  # fmt: skip
    return head.encode() + bytes(size)


def connection_ends(conn: socket.socket) -> dict | None:
    """{"local", "remote"} of an accepted connection; None (and the reset logged) when the client's RST came
    before the handler looked: the kernel then no longer knows the peer (getpeername: ENOTCONN)."""
    try:
        return {"local": addr(conn.getsockname()), "remote": addr(conn.getpeername())}
    except OSError as exc:
        emit("read_error", detail="the connection was reset before the handler could read it (getpeername)",
             **app_line.failure(exc))  # fmt: skip
        return None


def serve(conn: socket.socket, args: argparse.Namespace) -> None:
    with conn:
        ends = connection_ends(conn)
        if ends is None:
            return
        if args.sndbuf:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, args.sndbuf)
        effective = conn.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        emit("accept", detail=f"SO_SNDBUF={effective}" + (f" (asked {args.sndbuf})" if args.sndbuf else " (kernel default)"),
             **ends)  # fmt: skip
        if not read_request(conn, ends):
            return
        time.sleep(args.delay)
        data, offset, failed = response(args.size), 0, False
        while offset < len(data):
            chunk = data[offset : offset + args.write_size]
            try:
                sent = conn.send(chunk)
            except OSError as exc:
                failed = True
                emit("write_error", asked=len(chunk), error=str(exc),
                     errno=errno.errorcode.get(exc.errno), **ends)  # fmt: skip
                if args.stop_on_error:
                    break
                offset += len(chunk)  # each planned chunk is attempted once
                continue
            emit("write", asked=len(chunk), written=sent, **ends)
            offset += sent
        emit("response", detail="response failed" if failed else "response sent", **ends)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--size", type=int, default=8061, help="body bytes")
    parser.add_argument("--delay", type=float, default=1.0, help="sleep before responding, seconds")
    parser.add_argument("--write-size", type=int, default=4096, help="bytes per send() call")
    parser.add_argument("--sndbuf", type=int, default=0, help="SO_SNDBUF on each accepted connection (0: kernel default)")
    parser.add_argument("--stop-on-error", action="store_true", help="stop at the first failed send")
    args = parser.parse_args()
    if args.write_size <= 0:
        parser.error("--write-size must be positive")
    if args.sndbuf < 0:
        parser.error("--sndbuf must be 0 (kernel default) or positive")
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((args.host, args.port))
        listener.listen(16)
        emit("listening", local=addr(listener.getsockname()))
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn, args), daemon=True).start()


if __name__ == "__main__":
    main()
