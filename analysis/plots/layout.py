"""Label layout without a renderer: text widths from font metrics, greedy stacking into rows.

Used where labels share a horizontal line (the lane timeline, the break
notes): each label is an interval on the line; :func:`stack` gives each the
lowest row in which it overlaps nothing already placed (interval-graph
colouring, which is optimal for intervals sorted by their start).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath

_TEXT_TO_PATH = TextToPath()


@lru_cache(maxsize=4096)
def text_width_in(text: str, size_pt: float, bold: bool = False) -> float:
    """Rendered width of ``text`` in inches at ``size_pt`` (matplotlib's default font)."""
    props = FontProperties(size=size_pt, weight="bold" if bold else "normal")
    width_pt, _, _ = _TEXT_TO_PATH.get_text_width_height_descent(text, props, ismath=False)
    return width_pt / 72.0


def stack(intervals: Sequence[tuple[float, float]], gap: float = 0.0) -> list[int]:
    """Row (0, 1, ...) for each ``(start, end)`` so that intervals sharing a row are ``gap`` apart."""
    order = sorted(range(len(intervals)), key=lambda i: intervals[i][0])
    row_ends: list[float] = []
    rows = [0] * len(intervals)
    for i in order:
        start, end = intervals[i]
        for r, row_end in enumerate(row_ends):
            if start >= row_end + gap:
                rows[i], row_ends[r] = r, end
                break
        else:
            rows[i] = len(row_ends)
            row_ends.append(end)
    return rows
