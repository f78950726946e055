"""A small inline SVG line chart of a list's size over time (no JavaScript library)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

WIDTH, HEIGHT, PAD = 600, 160, 4


@dataclass
class Chart:
    width: int
    height: int
    points: str  # SVG polyline points "x,y x,y …"
    max_size: int
    start: dt.datetime | None
    end: dt.datetime | None
    summary: str  # the same figures in words, for screen readers


def size_chart(series: list[tuple[dt.datetime, int]]) -> Chart:
    """A step line through (time, size) points, time on x and size on y (0 at the bottom)."""
    if not series:
        return Chart(WIDTH, HEIGHT, "", 0, None, None, "No changes yet.")
    start, end = series[0][0], series[-1][0]
    span = max((end - start).total_seconds(), 1.0)
    top = max(size for _at, size in series) or 1
    coords: list[str] = []
    previous_y = None
    for at, size in series:
        x = PAD + (WIDTH - 2 * PAD) * (at - start).total_seconds() / span
        y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * size / top
        if previous_y is not None:
            coords.append(f"{x:.1f},{previous_y:.1f}")  # steps: the size holds until a change
        coords.append(f"{x:.1f},{y:.1f}")
        previous_y = y
    summary = (f"From {series[0][1]:,} members on {start:%b %-d, %Y} to {series[-1][1]:,} on "
               f"{end:%b %-d, %Y}; at most {top:,}.")
    return Chart(WIDTH, HEIGHT, " ".join(coords), top, start, end, summary)
