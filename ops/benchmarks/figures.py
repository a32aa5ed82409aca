"""Percentiles, medians of repeated runs, and the one JSON line every benchmark ends with."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from typing import Any

Run = dict[str, Any]


def percentile(values: Iterable[float], q: float) -> float:
    """The nearest-rank percentile `q` (0 < q <= 100); NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """n, p50, p99 and max of latencies given in seconds, as milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms) if ms else math.nan,
    }


def ratio(project: float, limit: float) -> float:
    """project / limit, NaN when the limit is zero or missing."""
    return project / limit if limit and not math.isnan(limit) else math.nan


def medians(runs: Sequence[Run]) -> Run:
    """The median of every numeric figure over the runs (nested dicts too)."""
    if not runs:
        return {}
    result: Run = {}
    for key, first in runs[0].items():
        values = [run.get(key) for run in runs]
        if isinstance(first, dict):
            result[key] = medians([v for v in values if isinstance(v, dict)])
        elif isinstance(first, int | float) and not isinstance(first, bool):
            numbers = [float(v) for v in values if isinstance(v, int | float)]
            result[key] = statistics.median(numbers) if numbers else math.nan
    return result


def interleaved(
    repeat: int,
    steps: Sequence[Callable[[int], Run]],
    describe: Callable[[int, Run], str],
    derive: Callable[[Run], Run] | None = None,
) -> list[Run]:
    """Run project and limit steps alternately, `repeat` times; print each run's line.

    `derive` adds figures computed from both steps of a run (the ratio).
    """
    runs = []
    for number in range(1, repeat + 1):
        run: Run = {}
        for step in steps:
            _merge(run, step(number))
        if derive is not None:
            run.update(derive(run))
        runs.append(run)
        print(describe(number, run), flush=True)
    return runs


def _merge(into: Run, figures: Run) -> None:
    for key, value in figures.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def emit(benchmark: str, config: Run, runs: Sequence[Run], median: Run, **extra: Any) -> None:
    """The last stdout line: every figure of the benchmark as one JSON object."""
    body = {"benchmark": benchmark, "config": config, "median": median, "runs": list(runs)}
    body.update(extra)
    print(json.dumps(_clean(body), sort_keys=False), flush=True)


def _clean(value: Any) -> Any:
    # JSON has no NaN; round floats so the line stays readable.
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else round(value, 4)
    return value
