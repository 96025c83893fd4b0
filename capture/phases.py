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


class RecordPhase(StrEnum):
    """The phases of `abortscope record` (capture.record.session); those it shares with a run have the same values
    (the session's end, capture.bundle_session, names them through :class:`Phase`)."""

    TARGET = "target"
    RECORDERS = Phase.RECORDERS.value
    RECORDING = "recording"
    DRAIN = Phase.DRAIN.value
    STOP = Phase.STOP.value
    ANALYSIS = Phase.ANALYSIS.value
    DONE = Phase.DONE.value
