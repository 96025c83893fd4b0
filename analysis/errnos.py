"""errno table: number <-> symbolic name <-> description, as data.

Built once from Python's :mod:`errno` and :func:`os.strerror` (the C
library's messages for this platform, Linux here). Go's error strings are the
same messages in lower case ("broken pipe", "connection reset by peer"), so
:func:`from_message` maps application log text back to the symbol.
"""

from __future__ import annotations

import errno as _errno
import os
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Errno:
    number: int
    name: str
    description: str


def _build() -> tuple[Errno, ...]:
    rows = []
    for number, name in sorted(_errno.errorcode.items()):
        rows.append(Errno(number, name, os.strerror(number)))
    return tuple(rows)


#: Every errno this platform knows, by number (one canonical name per number:
#: EWOULDBLOCK is EAGAIN, ENOTSUP is EOPNOTSUPP on Linux).
ERRNOS: tuple[Errno, ...] = _build()
BY_NUMBER: dict[int, Errno] = {e.number: e for e in ERRNOS}
BY_NAME: dict[str, Errno] = {e.name: e for e in ERRNOS}
BY_NAME.update({name: BY_NUMBER[num] for name, num in vars(_errno).items()
                if name.startswith("E") and isinstance(num, int) and num in BY_NUMBER and name not in BY_NAME})
BY_MESSAGE: dict[str, Errno] = {e.description.lower(): e for e in reversed(ERRNOS)}

#: Errors that say "try again", not "the connection is broken".
TRANSIENT: frozenset[str] = frozenset({"EAGAIN", "EWOULDBLOCK", "EINTR", "EINPROGRESS"})


def name_of(number: int | None) -> str | None:
    """32 -> 'EPIPE'; negative numbers (kernel style -32) are accepted; 0/None -> None."""
    if number is None or number == 0:
        return None
    entry = BY_NUMBER.get(abs(int(number)))
    return entry.name if entry else f"E{abs(int(number))}"


def number_of(name: str) -> int | None:
    entry = BY_NAME.get(name)
    return entry.number if entry else None


def describe(name: str) -> str:
    entry = BY_NAME.get(name)
    return entry.description if entry else name


_TAIL = re.compile(r"([a-z][a-z ,'/-]*[a-z])\s*$")


def from_message(text: str | None) -> str | None:
    """The errno named by an error message ending in strerror text.

    'write tcp 1.2.3.4:80->5.6.7.8:9: write: broken pipe' -> 'EPIPE';
    '[Errno 104] Connection reset by peer' -> 'ECONNRESET'; otherwise None.
    """
    if not isinstance(text, str) or not text:
        return None
    lowered = text.lower()
    match = re.search(r"\[errno (\d+)\]", lowered)
    if match:
        return name_of(int(match.group(1)))
    for part in reversed(lowered.split(":")):
        part = part.strip()
        if part in BY_MESSAGE:
            return BY_MESSAGE[part].name
    match = _TAIL.search(lowered)
    if match and match.group(1) in BY_MESSAGE:
        return BY_MESSAGE[match.group(1)].name
    return None
