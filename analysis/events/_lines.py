"""Damaged lines of a side file: skipped and counted, never dropped in silence (shared by the parsers).

A side file (strace.txt, kernel.txt, app.jsonl, an application log) can be
cut short mid-line (the recorder was killed), carry garbage (a disk error,
another program writing to it) or lines of a shape its parser does not
know. Each parser keeps every line it can read, and, when the caller hands
it a LineReport, counts the others there; the caller turns that into one
warning per file. A file with no readable line at all is still an
EventParseError (the caller decides whether that ends the analysis).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class LineReport:
    """What a parser skipped: how many damaged lines, the first one's number (1-based), and notes."""

    bad: int = 0
    first_bad: int = 0
    notes: list[str] = field(default_factory=list)  # what else the file says about itself (events lost, ...)

    def count(self, damaged: np.ndarray, line_numbers: np.ndarray | None = None) -> None:
        """Count the lines where ``damaged`` is True (positions are line indexes, unless ``line_numbers`` names them)."""
        at = np.flatnonzero(np.asarray(damaged, dtype=bool))
        if not len(at):
            return
        numbers = (at if line_numbers is None else np.asarray(line_numbers)[at]) + 1
        if not self.bad or int(numbers.min()) < self.first_bad:
            self.first_bad = int(numbers.min())
        self.bad += len(at)

    def warnings(self, name: str) -> list[str]:
        """One warning for the damaged lines (none when there were none), then the notes, each naming the file."""
        out = [f"{name}: skipped {self.bad} damaged line{'s' if self.bad != 1 else ''} (first: line {self.first_bad}); "
               "kept every other line"] if self.bad else []
        return out + [f"{name}: {note}" for note in self.notes]


def count_bad(report: LineReport | None, damaged, line_numbers=None) -> None:
    """report.count(...) when the caller asked for a report."""
    if report is not None:
        report.count(damaged, line_numbers)
