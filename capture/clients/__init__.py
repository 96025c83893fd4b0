"""The clients that give up on the slow request, each in a process of its own.

    result = run_client(ClientSpec(impl="curl", host=server.host, port=server.port,
                                   abort_after_s=0.3, app_log=bundle / "app.jsonl"))
    result.killed_by_sigint, result.abort_ns, result.bytes_received

Clients (:data:`CLIENTS`):

    curl        the real curl, SIGINT after abort_after_s (a delivered Ctrl-C)
    socket-fin  connect, GET, close() after abort_after_s: FIN
    socket-rst  the same with SO_LINGER {1, 0}: close() sends RST
    half-close  shutdown(SHUT_WR) after abort_after_s, then read until EOF
    refused     connect() to the server's port on 127.0.0.2, where nothing listens: SYN, RST
    browser     headless Chromium (never root): fetch() aborted with an AbortController
    browser-close  headless Chromium: the tab is closed while the fetch is pending

``run_client`` blocks until the client has aborted and exited (half-close:
until it read EOF or its read timeout). Every client runs as the invoking
user (SUDO_UID under sudo), and appends its events to ``spec.app_log`` as
actor "client" (the app.jsonl format of :mod:`analysis.bundle`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from capture.clients.curl import run_curl
from capture.clients.sockets import run_socket_client
from capture.clients.browser import run_browser_client
from capture.clients.spec import ClientError, ClientResult, ClientSpec
from capture.users import User, invoking_user

__all__ = ["CLIENTS", "IPV4_ONLY", "ClientError", "ClientResult", "ClientSpec", "run_client"]


@dataclass(frozen=True)
class Client:
    impl: str
    doc: str
    run: Callable[[ClientSpec, User], ClientResult]
    tools: tuple[str, ...] = ()  #: programs it needs on PATH (the preflight says what to install)


CLIENTS: dict[str, Client] = {
    client.impl: client
    for client in (
        Client("curl", "the real curl, interrupted with SIGINT (Ctrl-C): its socket closes with FIN", run_curl, ("curl",)),
        Client("socket-fin", "Python socket: GET, then close() -> FIN", run_socket_client),
        Client("socket-rst", "Python socket: GET, then SO_LINGER 0 close() -> RST", run_socket_client),
        Client("half-close", "Python socket: GET, shutdown(SHUT_WR) -> FIN, then read the whole response", run_socket_client),
        Client("browser", "headless Chromium: fetch() aborted with an AbortController", run_browser_client,
               ("chromium",)),
        Client("browser-close", "headless Chromium: the user closes the tab while the fetch is pending (closed through "
                                "DevTools, on a pipe): the socket closes with FIN, as an aborted fetch", run_browser_client,
               ("chromium",)),
        Client("refused", "Python socket: connect() to the server's port on 127.0.0.2 (IPv4 only), where nothing "
                          "listens: the SYN is answered by RST", run_socket_client),
    )
}
#: clients that need an IPv4 loopback host
IPV4_ONLY = frozenset({"refused"})


def run_client(spec: ClientSpec) -> ClientResult:
    """Run the client to its end: connect, request, abort after ``spec.abort_after_s``."""
    client = CLIENTS.get(spec.impl)
    if client is None:
        raise ClientError(f"unknown client {spec.impl!r}: choose one of {', '.join(CLIENTS)}")
    if spec.abort_after_s < 0 or spec.read_timeout_s <= 0:
        raise ClientError("abort_after_s must be >= 0 and read_timeout_s > 0")
    return client.run(spec, spec.user or invoking_user())
