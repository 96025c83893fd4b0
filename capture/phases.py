"""The phases of a run, in order (what each does: capture.scenario's docstring); meta["phase"] holds one."""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    PREFLIGHT = "preflight"
    BUILD = "build"
    SERVER = "server"
    RECORDERS = "recorders"
    CLIENT = "client"
    HANDLER = "handler"
    DRAIN = "drain"
    STOP = "stop"
    ANALYSIS = "analysis"
    DONE = "done"
