"""Captures cut into pieces the way users get them: editcap -c (a piece every N packets), named as tcpdump -C names
its rotated files (FILE, FILE1, FILE2, ...)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import require_tools


def cut(capture: Path, folder: Path, packets_per_piece: int, name: str = "part") -> list[Path]:
    """The pieces of ``capture`` in ``folder``, in capture order."""
    require_tools("editcap")
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".pcapng" if capture.suffix == ".pcapng" else ".pcap"
    subprocess.run(["editcap", "-c", str(packets_per_piece), str(capture), str(folder / f"cut{suffix}")],
                   check=True, capture_output=True)
    made = sorted(folder.glob(f"cut_*{suffix}"))
    pieces = []
    for index, piece in enumerate(made):
        pieces.append(piece.rename(folder / (name if index == 0 else f"{name}{index}")))
    return pieces
