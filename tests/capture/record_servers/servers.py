"""The user's servers the record tests start: a Go program of their own, nginx, a slow Python server.

Every process is started by the test, on loopback, in a session of its own,
and stopped by its pid (nginx by its master's pid: its workers follow it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from capture import procs

HERE = Path(__file__).parent
GO_BODY = 8061


@dataclass
class Started:
    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid


def build_go_server(into: Path) -> Path:
    """The user's Go program (user_server.go), built by `go build`."""
    into.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "user_server.go", into / "main.go")
    (into / "go.mod").write_text("module userserver\n\ngo 1.19\n")
    subprocess.run(["go", "build", "-o", "userserver", "."], cwd=into, check=True, capture_output=True, timeout=300)
    return into / "userserver"


@contextlib.contextmanager
def started(argv: list[str], port: int, log: Path, **kwargs) -> Iterator[Started]:
    """``argv`` with its stderr (and stdout) appended to ``log``, listening on ``port``; stopped by pid at the end."""
    log.touch()
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True, **kwargs)
    try:
        procs.wait_listening("127.0.0.1", port, owner=proc.pid, timeout_s=20)
        yield Started(proc, port, log)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)


NGINX_CONF = """\
worker_processes 2;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 64; }}
http {{
  access_log {prefix}/access.log;
  client_body_temp_path {prefix}/tmp; proxy_temp_path {prefix}/tmp; fastcgi_temp_path {prefix}/tmp;
  uwsgi_temp_path {prefix}/tmp; scgi_temp_path {prefix}/tmp;
  server {{
    listen 127.0.0.1:{port};
    root {prefix}/html;
    location /slow {{ proxy_pass http://127.0.0.1:{upstream}; proxy_buffering off; }}
  }}
}}
"""


@contextlib.contextmanager
def nginx(port: int, upstream: int) -> Iterator[Started]:
    """Debian's nginx (master + 2 workers, in the foreground) on 127.0.0.1:PORT: /slow proxied to ``upstream``,
    /big.bin a 32 MiB static file; error.log at level info (where nginx logs client aborts). Its prefix is a
    0755 directory of its own: the workers run as nobody and must read the file."""
    prefix = Path(tempfile.mkdtemp(prefix="abortscope-nginx-"))
    try:
        prefix.chmod(0o755)
        (prefix / "html").mkdir(mode=0o755)
        (prefix / "tmp").mkdir()
        with open(prefix / "html" / "big.bin", "wb") as big:
            big.truncate(32 << 20)
        (prefix / "html" / "big.bin").chmod(0o644)
        (prefix / "nginx.conf").write_text(NGINX_CONF.format(prefix=prefix, port=port, upstream=upstream))
        argv = ["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"]
        with started(argv, port, prefix / "nginx.stderr") as master:
            deadline = time.monotonic() + 10
            while len(procs.descendants(master.pid)) < 3 and time.monotonic() < deadline:
                time.sleep(0.02)
            yield Started(master.proc, port, prefix / "error.log")
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


def abort_request(port: int, path: str, how: str, after_s: float) -> str:
    """GET ``path``, then after ``after_s`` close with FIN (``fin``: nothing read) or RST (``rst``: SO_LINGER 0
    after reading a little); the client's endpoint ``ip:port``."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        if how == "rst":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        mine = "%s:%d" % sock.getsockname()[:2]
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        time.sleep(after_s)
        if how == "rst":
            sock.recv(1000)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return mine


def full_request(port: int, path: str = "/") -> bytes:
    """A whole response body (HTTP/1.0: the server closes at its end)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: test\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data.partition(b"\r\n\r\n")[2]


def readable_copy(files: list[Path]) -> Path:
    """A directory anyone may read (0755), holding copies of ``files``: what a user's own server lives in."""
    stage = Path(tempfile.mkdtemp(prefix="abortscope-usersrv-"))
    stage.chmod(0o755)
    for source in files:
        shutil.copy(source, stage / source.name)
        (stage / source.name).chmod(0o644)
    return stage
