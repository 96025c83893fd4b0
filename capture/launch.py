"""The scenario's seam to the programs under study: servers, clients, and waiting for them.

capture.servers and capture.clients own how each implementation is started
(as the invoking user, signals reset, own process group); this module only
maps ScenarioParams onto them, so the orchestration in capture.scenario
reads as phases, not command lines.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from capture import clients, procs
from capture.clients import ClientResult, ClientSpec
from capture.proxies import PROXIES, ProxySpec, RunningProxy, start_proxy
from capture.server_options import OPTION_OF, OPTIONS, asked
from capture.servers import SERVERS, RunningServer, ServerError, ServerSpec, read_app_events, start_server

#: app.jsonl events after which a server's handler has nothing more to do
HANDLER_DONE_EVENTS = {"response", "abort"}
#: after the handler is done, time for net/http's final flush (N=8060: the EPIPE comes then)
AFTER_HANDLER_S = 0.15

def servers_with(option: str) -> list[str]:
    """The servers that honour a ServerSpec option (content_length, ctx_aware, flush, write_size, sndbuf)."""
    return list(OPTION_OF[option].servers)


def markdown_tables() -> str:
    """The servers (with the options each takes) and the clients, as the README shows them."""
    lines = ["| server | what it is | takes |", "|---|---|---|"]
    for impl, launcher in SERVERS.items():
        flags = ", ".join(f"`{o.flag}`" for o in sorted(OPTIONS, key=lambda o: o.name) if o.cli and impl in o.argv)
        lines.append(f"| `{impl}` | {launcher.doc} | {flags or '-'} |")
    lines += ["", "| client | how it gives up |", "|---|---|"]
    lines += [f"| `{impl}` | {client.doc} |" for impl, client in clients.CLIENTS.items()]
    return "\n".join(lines)


def tools_for(params) -> list[str]:
    """The programs the server, the client and the proxy of ``params`` need on PATH (declared on their table entries)."""
    server, client = SERVERS.get(params.server), clients.CLIENTS.get(params.client)
    proxy = PROXIES[params.proxy].tools if params.proxy in PROXIES else ()
    return [*(server.tools if server else ()), *(client.tools if client else ()), *proxy]


def check(params) -> None:
    """Preflight: the server supports the options asked for, the proxy and client exist (before anything starts)."""
    if params.server not in SERVERS:
        raise ServerError(f"unknown server {params.server!r}: choose one of {', '.join(SERVERS)}")
    if params.proxy and params.proxy not in PROXIES:
        raise ServerError(f"unknown proxy {params.proxy!r}: choose one of {', '.join(PROXIES)}")
    if params.client in clients.IPV4_ONLY and ":" in params.host:
        raise ServerError(f"the {params.client} client needs an IPv4 loopback host (it uses a second one, 127.0.0.2)")
    problem = asked(params).problem(params.server)
    if problem:
        raise ServerError(problem)


def server_built(params) -> bool:
    """False when starting this server means building it first (Go, on a first run: about a minute)."""
    return SERVERS[params.server].built()


def build_server(params) -> None:
    """Build (or find in the cache) the server's program, so the server phase only starts it."""
    SERVERS[params.server].files()


def server_spec(params, port: int | None, app_log: Path, server_log: Path) -> ServerSpec:
    return ServerSpec(
        impl=params.server,
        host=params.host,
        port=port,
        size=params.size,
        handler_delay_s=params.handler_delay_s,
        app_log=app_log,
        server_log=server_log,
        **vars(asked(params)),
    )


@contextlib.contextmanager
def server(params, port: int | None, app_log: Path, server_log: Path) -> Iterator[RunningServer]:
    """The server, listening (port None: a free one); its process group is terminated on exit."""
    with start_server(server_spec(params, port, app_log, server_log)) as running:
        yield running


@contextlib.contextmanager
def proxy(params, upstream_port: int, log: Path) -> Iterator[RunningProxy]:
    """The proxy in front of the server, listening; its process group is ended on exit."""
    with start_proxy(ProxySpec(impl=params.proxy, host=params.host, upstream_port=upstream_port, log=log)) as running:
        yield running


def run_client(params, port: int, app_log: Path) -> ClientResult:
    """Run the client to its end (it aborts by itself after params.abort_after_s); it stops its own process."""
    spec = ClientSpec(impl=params.client, host=params.host, port=port, abort_after_s=params.abort_after_s, app_log=app_log)
    return clients.run_client(spec)


def wait_for_handler(app_log: Path, server_pid: int, deadline_monotonic: float) -> str:
    """Until the server logged the end of its handler (+ a short grace), or the deadline. Says which.

    The log is read at least once, also when the deadline has passed already (a browser client can
    take longer to give up than the handler takes to finish): "deadline" means the handler had not
    logged its end by then."""
    while True:
        if _handler_done(app_log, server_pid):
            time.sleep(AFTER_HANDLER_S)
            return "handler done"
        if not procs.is_running(server_pid):
            return "server exited"
        if time.monotonic() >= deadline_monotonic:
            return "deadline"
        time.sleep(0.02)


def _handler_done(app_log: Path, server_pid: int) -> bool:
    return any(event.get("event") in HANDLER_DONE_EVENTS for event in read_app_events(app_log, actor="server"))


if __name__ == "__main__":  # python -m capture.launch: the tables for the README
    print(markdown_tables())
