"""What a server is asked to do beyond its size and delay: one table, one frozen value.

:data:`OPTIONS` names each option once: its CLI flag, the flag each server
that honours it takes (which servers support it is the keys), its default.
Everything else is derived from it: :class:`ServerOptions` (the fields
``ServerSpec``, ``ScenarioParams`` and ``ProbeSpec`` inherit), the servers'
argv, the sweep's labels (``go -content-length``) and their parsing, the one
validation, and the ``run``/``sweep`` CLI options (abortscope.commands.server_options).

Stdlib only, and importing nothing of the harness: the CLI reads it to print its help.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, make_dataclass


@dataclass(frozen=True)
class Option:
    name: str  #: the field of ServerOptions
    default: bool | int | None  #: the value that asks nothing of the server
    argv: dict[str, str]  #: server -> the flag its program takes (a value follows it unless the option is a switch)
    help: str
    cli: bool = True  #: offered by `run` and `sweep`
    min: int | None = None  #: smallest value a user may give

    @property
    def switch(self) -> bool:
        return isinstance(self.default, bool)

    @property
    def flag(self) -> str:
        """The CLI flag: ``--content-length``."""
        return "--" + self.name.replace("_", "-")

    @property
    def servers(self) -> tuple[str, ...]:
        return tuple(self.argv)

    def words(self, value) -> list[str]:
        """The option as it follows a server's name in a sweep label: ``-write-size 1024``."""
        return [self.flag[1:]] if self.switch else [self.flag[1:], str(value)]


OPTIONS: tuple[Option, ...] = (
    Option("content_length", False, {"go": "-content-length", "node": "--content-length"},
           "send Content-Length instead of chunked encoding."),
    Option("ctx_aware", False, {"go": "-ctx-aware", "node": "--ctx-aware"},
           "skip the write when the client is gone (the fix)."),
    Option("flush", False, {"go": "-flush"}, "flush after the write."),
    Option("write_size", None, {"python-raw": "--write-size"}, "bytes per send() (default 4096).", min=1),
    Option("stop_on_error", False, {"python-raw": "--stop-on-error"}, "stop at the first failed send.", cli=False),
    Option("sndbuf", 0, {"go": "-sndbuf", "python-raw": "--sndbuf"},
           "SO_SNDBUF on the accepted connection (0: kernel default).", min=0),
)  # fmt: skip
OPTION_OF: dict[str, Option] = {option.name: option for option in OPTIONS}
BY_FLAG: dict[str, Option] = {option.flag: option for option in OPTIONS}


class _Asked:
    """The behaviour of :class:`ServerOptions` (its fields come from :data:`OPTIONS`)."""

    def options_set(self) -> list[Option]:
        """The options switched away from their defaults, in table order."""
        return [o for o in OPTIONS if getattr(self, o.name) != o.default]

    def server_argv(self, impl: str) -> list[str]:
        """The flags server ``impl`` is started with for the options set."""
        argv: list[str] = []
        for o in self.options_set():
            if impl in o.argv:
                argv += [o.argv[impl]] if o.switch else [o.argv[impl], str(getattr(self, o.name))]
        return argv

    def label_words(self) -> list[str]:
        """What follows the server's name in a sweep label: ``-content-length``, ``-write-size 1024``."""
        return [word for o in self.options_set() for word in o.words(getattr(self, o.name))]

    def problem(self, impl: str) -> str | None:
        """Why server ``impl`` cannot run with these options (None: it can)."""
        unsupported = [o for o in self.options_set() if impl not in o.argv]
        if unsupported:
            return f"the {impl} server does not support " + ", ".join(
                f"{o.flag} ({', '.join(o.servers)} only)" for o in unsupported)
        too_small = [o for o in self.options_set() if o.min is not None and getattr(self, o.name) < o.min]
        if too_small:
            return ", ".join(f"{o.flag} must be >= {o.min}" for o in too_small)
        return None


#: The options as one frozen value; ServerSpec, ScenarioParams and ProbeSpec inherit its fields.
ServerOptions = make_dataclass(
    "ServerOptions", [(o.name, type(o.default) if o.default is not None else int | None, o.default) for o in OPTIONS],
    bases=(_Asked,), frozen=True)
ServerOptions.__module__ = __name__
ServerOptions.__doc__ = "What a server is asked to do beyond size and delay (fields: :data:`OPTIONS`)."


def parse_label(text: str) -> tuple[str, dict[str, object]]:
    """``python-raw -write-size 1024 -sndbuf 4096`` -> (server, options); ValueError for an unknown option."""
    parts = text.split()
    if not parts:
        raise ValueError("empty server")
    options: dict[str, object] = {}
    rest = parts[1:]
    while rest:
        word = rest.pop(0)
        option = BY_FLAG.get("-" + word if not word.startswith("--") else word)
        if option is None or (not option.switch and not rest):
            raise ValueError(f"unknown server option {word.lstrip('-').replace('-', '_')!r} in {text!r}")
        options[option.name] = True if option.switch else int(rest.pop(0))
    return parts[0], options


def asked(value) -> ServerOptions:
    """The options part of any value that inherits them (a ServerSpec, ScenarioParams, ProbeSpec)."""
    return ServerOptions(**{f.name: getattr(value, f.name) for f in fields(ServerOptions)})
