"""Registry of sub-commands: name -> typer function. Each lives in its own module."""

from __future__ import annotations

import importlib

_MODULES = {
    "run": "abortscope.commands.run",
    "analyze": "abortscope.commands.analyze",
    "batch": "abortscope.commands.batch",
    "plot": "abortscope.commands.plot",
    "annotate": "abortscope.commands.annotate",
    "sweep": "abortscope.commands.sweep",
    "record": "abortscope.commands.record",
}


def _load() -> dict:
    commands = {}
    for name, module_name in _MODULES.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # command not written yet
                continue
            raise
        commands[name] = getattr(module, name)
    return commands


COMMANDS = _load()
