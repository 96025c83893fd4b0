"""The CLI's help, the README and the registries say the same thing.

The issue found them apart: the README's sweep `--max` was not the default,
`--content-length`/`--ctx-aware` named one server where two take them, and
`browser-close` was explained nowhere.
"""

from __future__ import annotations

import re

import typer.main

from abortscope.cli import app
from abortscope.commands.server_options import SERVER_FLAGS
from abortscope.commands.sweep import MATRIX_MAX, SINGLE_MAX
from capture.clients import CLIENTS
from capture.launch import markdown_tables, servers_with
from capture.servers import SERVERS
from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def command(name: str):
    return typer.main.get_command(app).commands[name]


def option_help(name: str, flag: str) -> str:
    return next(p.help for p in command(name).params if flag in getattr(p, "opts", ()))


def readme_cli_block() -> str:
    return README.split("## The CLI at a glance", 1)[1].split("```sh", 1)[1].split("```", 1)[0]


def test_each_server_option_names_exactly_the_servers_that_take_it_in_run_and_sweep():
    for flag, option in SERVER_FLAGS.items():
        servers = servers_with(option)
        for name in ("run", "sweep"):
            named = option_help(name, flag).split(":", 1)[0]
            assert named.split(", ") == servers, f"{name} {flag} says {named!r}, the launchers say {servers}"


def test_the_readme_tables_of_servers_and_clients_are_the_registries():
    assert markdown_tables() in README
    for impl in CLIENTS:
        assert f"| `{impl}` |" in README
    for impl in SERVERS:
        assert f"| `{impl}` |" in README


def test_the_readme_cli_lines_use_the_commands_options_and_defaults():
    block = readme_cli_block()
    for line in block.split("\n\n"):
        words = line.split()
        if "abortscope" not in words:
            continue
        name = words[words.index("abortscope") + 1]
        known = {opt for p in command(name).params for opt in (*getattr(p, "opts", ()), *getattr(p, "secondary_opts", ()))}
        used = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-o)\b", line))
        assert used <= known, f"abortscope {name}: the README names {sorted(used - known)}, which it does not take"
    single = next(line for line in block.splitlines() if "sweep --server" in line)
    matrix = next(line for line in block.splitlines() if "sweep --matrix" in line)
    assert f"[--max {SINGLE_MAX}]" in single and f"[--max {MATRIX_MAX}]" in matrix
    assert f"default {SINGLE_MAX}; matrix {MATRIX_MAX}" in option_help("sweep", "--max")


def test_every_run_option_is_in_the_readme_line():
    block = readme_cli_block()
    run_line = block.split("\n\n")[0]
    for param in command("run").params:
        for opt in getattr(param, "opts", ()):
            if opt.startswith("--") and opt != "--help":
                assert opt in run_line, f"`abortscope run {opt}` is missing from the README"


def test_every_record_option_is_in_the_readme_line():
    block = readme_cli_block()
    record_line = next(part for part in block.split("\n\n") if "abortscope record" in part)
    for param in command("record").params:
        for opt in getattr(param, "opts", ()):
            if opt.startswith("--") and opt != "--help":
                assert opt in record_line, f"`abortscope record {opt}` is missing from the README"
    assert "## Record your own server" in README
