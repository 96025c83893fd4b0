"""What a reader checks on a figure, as assertions helpers: texts present, none overlapping, none cut off."""

from __future__ import annotations

from itertools import combinations

from analysis.plots import text_artists


def texts(fig) -> list[tuple[str, object]]:
    """(text, window bbox in px) of every visible text, after a full draw."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [(t.get_text(), t.get_window_extent(renderer)) for t in text_artists(fig)]


def all_text(fig) -> str:
    return "\n".join(text for text, _ in texts(fig))


def overlapping(fig, tolerance_px: float = 1.0) -> list[tuple[str, str]]:
    """Pairs of texts whose boxes overlap by more than ``tolerance_px`` each way."""
    boxes = texts(fig)
    out = []
    for (a, ba), (b, bb) in combinations(boxes, 2):
        dx = min(ba.x1, bb.x1) - max(ba.x0, bb.x0)
        dy = min(ba.y1, bb.y1) - max(ba.y0, bb.y0)
        if dx > tolerance_px and dy > tolerance_px:
            out.append((a, b))
    return out


def outside(fig, tolerance_px: float = 1.0) -> list[str]:
    """Texts that stick out of the figure (cut off in the saved image)."""
    width, height = fig.get_figwidth() * fig.dpi, fig.get_figheight() * fig.dpi
    return [text for text, bb in texts(fig)
            if bb.x0 < -tolerance_px or bb.y0 < -tolerance_px or bb.x1 > width + tolerance_px
            or bb.y1 > height + tolerance_px]
