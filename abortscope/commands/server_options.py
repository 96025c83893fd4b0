"""The options `run` and `sweep` share: the server's options, the loopback host, --force.

The server's options are derived from their one table
(capture.server_options.OPTIONS): :func:`with_server_options` gives a
command one typer option per entry, each help starting with the servers that
honour it, and hands the command one frozen ``ServerOptions``. That module is
stdlib-only: the CLI does not import the harness to print its help
(`abortscope analyze` starts fast).
"""

from __future__ import annotations

import functools
import inspect
import typing
from typing import Optional

import typer

from abortscope.console import fail
from capture.server_options import OPTIONS, Option, ServerOptions

HOST = typer.Option("127.0.0.1", help="Loopback address: 127.0.0.1 or ::1.")
FORCE = typer.Option(False, "--force", help="Write into a non-empty directory that holds no earlier output of ours "
                     "(only our own file names are replaced; other files are left alone).")
#: the parameter a command declares where the server's options go (with_server_options expands it)
SERVER_OPTIONS: ServerOptions = ServerOptions()
CLI_OPTIONS: tuple[Option, ...] = tuple(o for o in OPTIONS if o.cli)
#: CLI flag -> the ServerOptions field it sets
SERVER_FLAGS = {o.flag: o.name for o in CLI_OPTIONS}
LOOPBACK_HOSTS = ("127.0.0.1", "::1")


def check_host(host: str) -> None:
    """--host, refused (exit code 2) unless it is a loopback address."""
    if host not in LOOPBACK_HOSTS:
        raise fail(f"--host must be 127.0.0.1 or ::1 (loopback only), not {host!r}", code=2)


def _parameter(option: Option) -> inspect.Parameter:
    kind = bool if option.switch else (int if option.default is not None else Optional[int])
    default = typer.Option(option.default, option.flag, min=option.min, help=f"{', '.join(option.servers)}: {option.help}")
    return inspect.Parameter(option.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=kind)


def with_server_options(command):
    """The command with its ``options: ServerOptions = SERVER_OPTIONS`` parameter replaced, for typer, by one
    option per entry of the table; the command is called with the ServerOptions they make."""
    hints = typing.get_type_hints(command)
    parameters = []
    for parameter in inspect.signature(command).parameters.values():
        if parameter.name == "options":
            parameters += [_parameter(o) for o in CLI_OPTIONS]
        else:
            parameters.append(parameter.replace(annotation=hints.get(parameter.name, parameter.annotation)))

    @functools.wraps(command)
    def expanded(**kwargs):
        options = ServerOptions(**{o.name: kwargs.pop(o.name) for o in CLI_OPTIONS})
        return command(**kwargs, options=options)

    expanded.__signature__ = inspect.Signature(parameters, return_annotation=None)
    expanded.__annotations__ = {p.name: p.annotation for p in parameters}
    return expanded
