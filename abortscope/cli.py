"""The `abortscope` command: a thin typer shell; each sub-command lives in abortscope/commands/."""

from __future__ import annotations

import gc

import typer

from abortscope.commands import COMMANDS

app = typer.Typer(
    name="abortscope",
    help="Why did my server's write fail, and when exactly did the connection die?",
    no_args_is_help=True,
    add_completion=True,  # --install-completion: tab completion of commands, options and --verdict names
    pretty_exceptions_enable=False,
)

for name, function in COMMANDS.items():
    app.command(name)(function)


def main() -> None:
    """The console script: one command, then the process exits.

    On the way out, every object left (nearly all made by importing pandas,
    pyarrow and the analysis) is frozen out of the cyclic garbage collector,
    so that interpreter shutdown does not walk them all again: 0.07 s of a
    one-second analyze. Objects are still finalised as usual.
    """
    try:
        app()
    finally:
        gc.freeze()
