"""The --applog options as the recording keeps them (meta["applogs"]), and the zone of the logs' times.

A log's times carry no zone (nginx, Python's logging, Go's log): the recording
notes this machine's zone (``TZ``, else /etc/localtime's name, else UTC), since
the logs are written here and now; `abortscope analyze --tz` overrides it.
"""

from __future__ import annotations

import os
from pathlib import Path

from analysis.errors import AbortscopeError
from analysis.events import check_log_format
from analysis.events.pattern import compiled
from capture.record.session import AppLog

AUTO = "auto"
ZONEINFO = "/usr/share/zoneinfo/"


def machine_zone() -> str:
    """This machine's IANA zone name (``TZ``, else the target of /etc/localtime), UTC when it has none."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and "/" in tz or tz == "UTC":
        return tz
    try:
        target = os.path.realpath("/etc/localtime")
    except OSError:
        return "UTC"
    return target.split(ZONEINFO, 1)[1] if ZONEINFO in target else "UTC"


def applogs_from_options(paths: list[Path], formats: list[str], pattern: str | None,
                         tz: str | None) -> tuple[tuple[AppLog, ...], AppLog]:
    """(--applog files with their format, how to read -- CMD's output); AbortscopeError for options that do not fit."""
    if formats and len(formats) not in (1, len(paths) or 1):
        raise AbortscopeError(f"give one --applog-format for all --applog files or one per file (got {len(formats)} "
                              f"for {len(paths)})")
    names = [_format(f) for f in formats]
    if "pattern" in names or pattern:
        try:
            compiled(pattern)
        except Exception as exc:
            raise AbortscopeError(str(exc)) from exc
    zone = tz or machine_zone()
    options = {"pattern": pattern} if pattern else {}

    def log(path: Path, name: str | None) -> AppLog:
        return AppLog(Path(path), name, options if name == "pattern" else {}, zone)

    per_file = names * len(paths) if len(names) == 1 else names or [None] * len(paths)
    logs = tuple(log(Path(p).absolute(), name) for p, name in zip(paths, per_file))
    command_format = names[0] if len(names) == 1 and not paths else None
    return logs, log(Path("command.log"), command_format)


def _format(name: str) -> str | None:
    return None if check_log_format(name, also=(AUTO,)) == AUTO else name
