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
    # numpy asks for transparent huge pages (madvise) for every array of 4 MB or more. Our arrays live for
    # milliseconds, and a huge page's first touch clears 2 MB at once: on a VM whose host takes back the guest's
    # free memory (virtio-balloon free page reporting, as on the machine the README's figures come from) a
    # 400 MB first touch took 0.80 s with huge pages and 0.17 s without, and `abortscope analyze` of the 1M-packet
    # file 1.40 s against 1.32 s (medians of 5, alternating, memory gone cold between runs); warm, no difference.
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
    try:
        app()
    finally:
        gc.freeze()
