"""The socket clients: send a GET, then give up after a delay in one of three ways.

Run as a script (stdlib only, so it runs under any python3 as any user):

    python3 socket_client.py --mode fin|rst|half-close|refused --host 127.0.0.1 --port 3000 --abort-after 0.3

    fin         close() after the delay: the kernel sends FIN (what curl's exit does)
    rst         SO_LINGER {on, 0} then close(): the kernel sends RST instead
    half-close  shutdown(SHUT_WR) after the delay (FIN), then keep reading until
                EOF, bounded by --read-timeout: the server can still answer
    refused     connect() to the server's port on 127.0.0.2, a loopback address the
                server does not listen on: the SYN is answered by RST (ECONNREFUSED)

The delay counts from the moment connect() returned. Every step is one JSON
line on stdout (app.jsonl format, see analysis/bundle.py), actor "client":
connect, request, abort | shutdown, read (``written`` = bytes received by
that recv), read_eof | read_error, close. The exit status is 0 when every
step went as planned, 1 when connect or the request failed.
"""

from __future__ import annotations

import argparse
import os
import socket
import struct
import time

import app_line  # staged beside this script (capture/app_line.py)
from app_line import addr

IMPLS = {"fin": "socket-fin", "rst": "socket-rst", "half-close": "half-close", "refused": "refused"}
#: refused: where nothing listens (still loopback: 127.0.0.0/8), from a port bound first so that the failed
#: connect's line can name its local end
REFUSING_HOST = "127.0.0.2"


class Log:
    def __init__(self, impl: str) -> None:
        self.impl = impl
        self.ends = {"local": None, "remote": None}

    def emit(self, event: str, ts_ns: int | None = None, **fields) -> None:
        app_line.emit("client", self.impl, event, ts_ns, **{**self.ends, **fields})

    def failure(self, event: str, exc: OSError, **fields) -> None:
        self.emit(event, **app_line.failure(exc), **fields)


def request_bytes(host: str, port: int, path: str) -> bytes:
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: abortscope\r\nAccept: */*\r\n\r\n".encode()


def describe_response(start: bytes, received: int, head_len: int | None) -> str:
    """``received N bytes: head H, body B (Content-Length C | chunked)`` for the read_eof line."""
    if head_len is None:
        return f"received {received} bytes, no complete response head"
    head = start[:head_len].decode(errors="replace").lower()
    framing = next((line.strip() for line in head.split("\r\n") if line.startswith(("content-length:", "transfer-encoding:"))), "no length")
    return f"received {received} bytes: head {head_len}, body {received - head_len} ({framing})"


def read_until_eof(sock: socket.socket, log: Log, timeout_s: float) -> int:
    received, deadline = 0, time.monotonic() + timeout_s
    head_len = None
    buffer = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            log.emit("log", detail=f"read timeout after {timeout_s} s with {received} bytes received")
            return received
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError as exc:
            log.failure("read_error", exc, detail=f"after {received} bytes")
            return received
        if not chunk:
            log.emit("read_eof", written=0, detail=describe_response(buffer, received, head_len))
            return received
        received += len(chunk)
        if head_len is None:
            buffer += chunk
            end = buffer.find(b"\r\n\r\n")
            head_len = end + 4 if end >= 0 else None
        log.emit("read", asked=65536, written=len(chunk))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=sorted(IMPLS), required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/")
    parser.add_argument("--abort-after", type=float, default=0.3, help="seconds after connect")
    parser.add_argument("--read-timeout", type=float, default=5.0, help="half-close: give up reading after this")
    args = parser.parse_args()
    log = Log(IMPLS[args.mode])
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    host = REFUSING_HOST if args.mode == "refused" else args.host
    try:
        if args.mode == "refused":
            sock.bind((args.host, 0))
            log.ends = {"local": addr(sock.getsockname()), "remote": addr((host, args.port))}
        sock.connect((host, args.port))
    except OSError as exc:
        log.failure("connect", exc, detail=f"connect to {addr((host, args.port))} failed")
        return 0 if args.mode == "refused" else 1
    connected = time.monotonic()
    log.ends = {"local": addr(sock.getsockname()), "remote": addr(sock.getpeername())}
    log.emit("connect", detail=f"uid={os.getuid()} gid={os.getgid()}")
    request = request_bytes(args.host, args.port, args.path)
    try:
        sent = sock.send(request)
    except OSError as exc:
        log.failure("write_error", exc, asked=len(request), detail="request")
        return 1
    log.emit("request", asked=len(request), written=sent, detail=request.split(b"\r\n", 1)[0].decode())
    time.sleep(max(0.0, args.abort_after - (time.monotonic() - connected)))
    if args.mode == "half-close":
        ts = time.time_ns()
        sock.shutdown(socket.SHUT_WR)
        log.emit("shutdown", ts_ns=ts, detail="shutdown(SHUT_WR): FIN sent, still reading")
        read_until_eof(sock, log, args.read_timeout)
        ts = time.time_ns()
        sock.close()
        log.emit("close", ts_ns=ts, detail="close() after EOF")
        return 0
    how = "close(): FIN"
    if args.mode == "rst":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        how = "close() with SO_LINGER {1, 0}: RST"
    ts = time.time_ns()
    sock.close()
    log.emit("abort", ts_ns=ts, detail=how)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
