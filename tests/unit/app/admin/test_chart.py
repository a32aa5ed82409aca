"""The throughput chart's geometry."""

from __future__ import annotations

from app.admin import chart


def _throughput(series: dict[str, dict[str, int]], minutes: int = 1440) -> dict:
    return {"start": "2026-12-01T10:00:00+00:00", "minutes": minutes, "series": series}


def test_no_throughput_section_draws_nothing() -> None:
    assert chart.build(None) is None


def test_lines_scale_to_the_peak_and_keep_only_the_ends_of_flat_runs() -> None:
    drawn = chart.build(_throughput({"done": {"0": 4, "720": 2}, "fail": {"1439": 1}}))
    assert drawn is not None
    assert drawn.peak == 4
    done = next(line for line in drawn.lines if line.kind == "done")
    assert (done.total, done.peak) == (6, 4)
    points = [tuple(map(float, p.split(","))) for p in done.points.split()]
    assert points[0] == (0.0, 2.0)  # the peak touches the top margin
    assert (720.5, 100.0) in points  # half the peak, half way up (x scaled to 1440 units)
    assert points[-1] == (1440.0, 198.0)
    assert len(points) < 10  # a quiet day is a few points, not 1440
    assert drawn.ticks == ["10:00", "16:00", "22:00", "04:00", "10:00"]


def test_an_idle_day_is_flat_and_marked_empty() -> None:
    drawn = chart.build(_throughput({}))
    assert drawn is not None
    assert drawn.empty
    assert all(line.total == 0 for line in drawn.lines)
