"""The `abortscope` command: a thin typer shell; each sub-command lives in abortscope/commands/."""

from __future__ import annotations

import typer

from abortscope.commands import COMMANDS

app = typer.Typer(
    name="abortscope",
    help="Why did my server's write fail, and when exactly did the connection die?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for name, function in COMMANDS.items():
    app.command(name)(function)
