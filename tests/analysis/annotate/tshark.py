"""What tshark shows of a capture: the fields a user compares, the bytes, the packet comments.

Every check of the annotated files goes through tshark (the real one: `make install` puts it there), so
the tests assert what a user of Wireshark would see, not what our reader thinks.
"""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path

import pytest

FIELDS = ("frame.number", "frame.time_epoch", "frame.len", "frame.cap_len")
#: Separates the comments of one packet in ``-T fields`` output (a comment may hold commas).
SEPARATOR = "\x1f"


def tshark(*args: str) -> str:
    """tshark's standard output; a capture tshark reads only in part (cut short) still gives its packets."""
    proc = subprocess.run(["tshark", *map(str, args)], capture_output=True, text=True, timeout=300)
    if proc.returncode not in (0, 2) or (proc.returncode == 2 and not proc.stdout):
        pytest.fail(f"tshark {' '.join(map(str, args))} failed ({proc.returncode}): {proc.stderr[-500:]}")
    return proc.stdout


def fields(path: Path, *names: str) -> list[list[str]]:
    """One row per packet: the fields ``names`` (FIELDS by default) as tshark prints them."""
    out = tshark("-r", path, "-n", "-T", "fields", *(a for n in names or FIELDS for a in ("-e", n)))
    return [line.split("\t") for line in out.splitlines()]


def hex_dump(path: Path) -> str:
    """``tshark -x``: every packet's bytes (and the data sources its dissection makes)."""
    return tshark("-r", path, "-n", "-x")


def frame_bytes(path: Path) -> list[str]:
    """Each packet's bytes in hex, as tshark read them (``-T ek -x``: the frame's raw bytes only)."""
    rows = [json.loads(line) for line in tshark("-r", path, "-n", "-T", "ek", "-x", "-j", "frame").splitlines()
            if line.startswith('{"timestamp"')]
    return [row["layers"]["frame_raw"] for row in rows]


@functools.cache
def comment_field() -> str:
    """The field that holds packet comments: ``frame.comment`` (Wireshark 1.10 on), ``pkt_comment`` before."""
    listed = tshark("-G", "fields")
    return "frame.comment" if "\tframe.comment\t" in listed else "pkt_comment"


def comments(path: Path) -> dict[int, list[str]]:
    """Frame number -> its packet comments, in order (frames without comments left out)."""
    out = tshark("-r", path, "-n", "-T", "fields", "-E", f"aggregator={SEPARATOR}", "-e", "frame.number",
                 "-e", comment_field())
    found = {}
    for line in out.splitlines():
        number, _, text = line.partition("\t")
        if text:
            found[int(number)] = text.split(SEPARATOR)
    return found


def section_comments(path: Path) -> tuple[str, list[str]]:
    """(the application that wrote the file, the section header's comments), as capinfos shows them."""
    out = subprocess.run(["capinfos", str(path)], capture_output=True, text=True, timeout=60).stdout
    application = next((line.split(":", 1)[1].strip() for line in out.splitlines()
                        if line.startswith("Capture application:")), "")
    said = [line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Capture comment:")]
    return application, said
