"""How each server implementation is started: its program file and its command line.

One :class:`Launcher` per implementation, in the :data:`LAUNCHERS` table.
A launcher names the program files it needs (built first for Go) and turns
a :class:`~capture.servers.spec.ServerSpec` into an argv; which of the spec's
options it honours (and the flags it takes for them) are capture.server_options.OPTIONS.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from capture import app_line
from capture.server_options import OPTIONS
from capture.servers.errors import ServerError
from capture.servers.gobuild import ensure_go_server, is_built
from capture.servers.spec import ServerSpec
from capture.users import User, python_for

HERE = Path(__file__).resolve().parent
APP_LINE = Path(app_line.FILE)


@dataclass(frozen=True)
class Launcher:
    impl: str
    doc: str
    #: the program files to run (staged for a dropped user); may build them
    files: Callable[[], list[Path]]
    #: argv from the spec, the port, the (staged) files and the user it runs as
    argv: Callable[[ServerSpec, int, Sequence[Path], User], list[str]]
    #: False when ``files()`` has to build first (the run says so: a first Go build takes about a minute)
    built: Callable[[], bool] = lambda: True
    tools: tuple[str, ...] = ()  #: programs it needs on PATH (the preflight says what to install)

    @property
    def options(self) -> frozenset[str]:
        """The ServerOptions this server honours (capture.server_options.OPTIONS)."""
        return frozenset(o.name for o in OPTIONS if self.impl in o.argv)


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _go_argv(spec: ServerSpec, port: int, files: Sequence[Path], user: User) -> list[str]:
    argv = [str(files[0]), "-addr", _host_port(spec.host, port), "-size", str(spec.size), "-delay", f"{spec.handler_delay_s}s"]
    return argv + spec.server_argv(spec.impl)


def _python_script_argv(spec: ServerSpec, port: int, files: Sequence[Path], user: User) -> list[str]:
    # -E -s -S: stdlib only, no site-packages, no environment: the script runs the same under any python3
    # (not -I: the script imports app_line from its own directory)
    argv = [python_for(user), "-E", "-s", "-S", str(files[0]), "--host", spec.host, "--port", str(port)]
    argv += ["--size", str(spec.size), "--delay", str(spec.handler_delay_s)]
    return argv + spec.server_argv(spec.impl)


def _node_binary() -> str:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        raise ServerError("the node server needs Node.js: apt-get install nodejs")
    return node


def _node_argv(spec: ServerSpec, port: int, files: Sequence[Path], user: User) -> list[str]:
    argv = [_node_binary(), str(files[0]), "--host", spec.host, "--port", str(port)]
    argv += ["--size", str(spec.size), "--delay", str(spec.handler_delay_s)]
    return argv + spec.server_argv(spec.impl)


LAUNCHERS: dict[str, Launcher] = {
    launcher.impl: launcher
    for launcher in (
        Launcher("go", "the user's net/http program (handler sleeps, then one w.Write)",
                 lambda: [ensure_go_server()], _go_argv, built=is_built, tools=("go",)),
        Launcher("python", "stdlib http.server: headers in one write, then the body in one write",
                 lambda: [HERE / "python_http.py", APP_LINE], _python_script_argv),
        Launcher("python-raw", "plain socket server sending the response in --write-size send() calls",
                 lambda: [HERE / "python_raw.py", APP_LINE], _python_script_argv),
        Launcher("node", "Node's http module: setTimeout, then res.write and res.end",
                 lambda: [HERE / "node_http.js"], _node_argv, tools=("node",)),
    )
}  # fmt: skip
