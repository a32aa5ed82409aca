"""The throughput chart as server-rendered SVG geometry: no script, no CDN, no library.

The SVG holds only the lines (scaled to any width with a non-scaling stroke); labels
and the legend are HTML around it, so they stay readable on a phone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

WIDTH = 1440  # one unit per minute
HEIGHT = 200
KINDS = ("done", "retry", "snooze", "fail")


@dataclass(frozen=True)
class Line:
    """One outcome's per-minute series as a polyline."""

    kind: str
    points: str
    total: int
    peak: int


@dataclass(frozen=True)
class Chart:
    """What the template draws."""

    lines: list[Line]
    peak: int
    ticks: list[str]  # five labels, oldest to now
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def empty(self) -> bool:
        return self.peak == 0


def build(throughput: dict[str, Any] | None) -> Chart | None:
    """The chart of a snapshot's throughput section, or None when it has none."""
    if not throughput:
        return None
    minutes = int(throughput["minutes"])
    counts = {kind: _dense(throughput["series"].get(kind, {}), minutes) for kind in KINDS}
    peak = max((max(values) for values in counts.values()), default=0)
    scale = WIDTH / max(1, minutes - 1)
    lines = [
        Line(kind, _points(values, scale, peak), sum(values), max(values))
        for kind, values in counts.items()
    ]
    return Chart(lines, peak, _ticks(datetime.fromisoformat(throughput["start"]), minutes))


def _dense(sparse: dict[str, int], minutes: int) -> list[int]:
    values = [0] * minutes
    for offset, count in sparse.items():
        if 0 <= int(offset) < minutes:
            values[int(offset)] = int(count)
    return values


def _points(values: list[int], scale: float, peak: int) -> str:
    """`x,y` pairs; y grows downwards, 2 units of margin keep the top line visible.

    Inside a run of equal values only its ends are kept: a quiet day is a few points.
    """
    usable = HEIGHT - 4
    last = len(values) - 1
    kept = [
        i
        for i, v in enumerate(values)
        if i in (0, last) or v != values[i - 1] or v != values[i + 1]
    ]
    return " ".join(
        f"{i * scale:.1f},{HEIGHT - 2 - (values[i] / peak * usable if peak else 0):.1f}"
        for i in kept
    )


def _ticks(start: datetime, minutes: int) -> list[str]:
    step = minutes / 4
    return [(start + timedelta(minutes=step * i)).strftime("%H:%M") for i in range(5)]
