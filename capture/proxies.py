"""Reverse proxies in front of the server under study: client -> proxy -> server, all on loopback.

    with start_proxy(ProxySpec(impl="nginx", host="127.0.0.1", upstream_port=server.port, log=bundle / "proxy.log")) as proxy:
        proxy.port, proxy.pid   # it listens; the client connects here

Implementations (:data:`PROXIES`):

    nginx   Debian's nginx, with a configuration of our own in a private temporary directory (one process,
            no daemon, its error log at level info on stderr): ``proxy_pass`` to the server
    go      httputil.ReverseProxy (the Go server's ``-proxy`` mode): what a Go service in front of another is

The proxy runs as the invoking user, in a process group of its own, and is
ended by pid when the block ends; its stderr (nginx's error log, Go's
``http: proxy error`` lines) goes to ``spec.log`` (the bundle's proxy.log).
It writes no app.jsonl line: the application under study is the server.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from capture.out_dir import make_staging
from capture.procs import Child, ProcessError, format_addr, free_port, spawn, wait_listening
from capture.servers.errors import ServerError
from capture.servers.gobuild import ensure_go_server
from capture.users import PrivilegeError, User, chown_to, invoking_user, staged_for

READY_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class ProxySpec:
    impl: str  #: key of PROXIES
    host: str  #: 127.0.0.1 or ::1: where it listens and where the server is
    upstream_port: int
    log: Path  #: its stderr (the bundle's proxy.log)
    user: User | None = None  #: None: the invoking user


@dataclass(frozen=True)
class RunningProxy:
    impl: str
    host: str
    port: int
    pid: int
    argv: list[str]
    child: Child


def _nginx_config(host: str, port: int, upstream_port: int, prefix: Path) -> str:
    """One process, no daemon, everything it writes under ``prefix``; the error log (info: it says when a
    client closed early) on stderr."""
    temp_paths = "\n".join(f"    {name}_temp_path {prefix / name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""daemon off;
master_process off;
worker_processes 1;
pid {prefix / 'nginx.pid'};
error_log stderr info;
events {{ worker_connections 64; }}
http {{
    access_log off;
{temp_paths}
    server {{
        listen {format_addr(host, port)};
        location / {{ proxy_pass http://{format_addr(host, upstream_port)}; }}
    }}
}}
"""


def _nginx_binary() -> str:
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).is_file()), None)
    if nginx is None:
        raise ServerError("the nginx proxy needs nginx: apt-get install nginx")
    return nginx


@contextlib.contextmanager
def _nginx_argv(spec: ProxySpec, port: int, user: User) -> Iterator[list[str]]:
    prefix = make_staging("abortscope-nginx-")  # root writes the config there: never under a $TMPDIR the user controls
    try:
        config = prefix / "nginx.conf"
        config.write_text(_nginx_config(spec.host, port, spec.upstream_port, prefix))
        for path in (prefix, config):
            chown_to(path, user)
        yield [_nginx_binary(), "-p", str(prefix), "-e", "stderr", "-c", str(config)]
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


@contextlib.contextmanager
def _go_argv(spec: ProxySpec, port: int, user: User) -> Iterator[list[str]]:
    with staged_for(user, [ensure_go_server()]) as (program,):
        yield [str(program), "-addr", format_addr(spec.host, port), "-proxy", f"http://{format_addr(spec.host, spec.upstream_port)}"]


@dataclass(frozen=True)
class Proxy:
    impl: str
    doc: str
    argv: Callable[[ProxySpec, int, User], contextlib.AbstractContextManager[Sequence[str]]]
    tools: tuple[str, ...]


PROXIES: dict[str, Proxy] = {
    proxy.impl: proxy
    for proxy in (
        Proxy("nginx", "Debian's nginx: proxy_pass to the server (its error log in proxy.log)", _nginx_argv, ("nginx",)),
        Proxy("go", "Go's httputil.ReverseProxy in front of the server", _go_argv, ("go",)),
    )
}


@contextlib.contextmanager
def start_proxy(spec: ProxySpec) -> Iterator[RunningProxy]:
    """Start the proxy on a free port, wait until it listens, yield it; end its process group on exit."""
    proxy = PROXIES.get(spec.impl)
    if proxy is None:
        raise ServerError(f"unknown proxy {spec.impl!r}: choose one of {', '.join(PROXIES)}")
    user = spec.user or invoking_user()
    port = free_port(spec.host)
    with contextlib.ExitStack() as stack:
        argv = list(stack.enter_context(proxy.argv(spec, port, user)))
        log = stack.enter_context(open(spec.log, "ab"))
        try:
            child = spawn(argv, user=user, stdout=log, stderr=log)
        except (ProcessError, PrivilegeError) as exc:
            raise ServerError(str(exc)) from exc
        stack.callback(child.terminate)
        try:
            pid = wait_listening(spec.host, port, owner=child.pid, timeout_s=READY_TIMEOUT_S)
        except ProcessError as exc:
            raise ServerError(f"{spec.impl} proxy did not start on {format_addr(spec.host, port)}: {exc}; see {spec.log}") from exc
        yield RunningProxy(impl=spec.impl, host=spec.host, port=port, pid=pid or child.pid, argv=argv, child=child)
