"""The `abortscope` command: a thin typer shell; each sub-command lives in abortscope/commands/."""

from __future__ import annotations

import gc
import os

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
    # pyarrow picks its allocator when first imported: the system allocator hands memory back after the big
    # parquet writes of `abortscope analyze` (its default pool keeps an arena of ~47 MB resident). Set before
    # any command imports pyarrow; here, not when the package is imported, so that importing it changes nothing.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    try:
        app()
    finally:
        gc.freeze()
