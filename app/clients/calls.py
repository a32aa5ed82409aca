"""Remote calls made during one delivery, collected for the intent's timeline.

Clients report every request here; the runner collects them around its one remote
step (a context variable, so worker threads never see each other's calls) and writes
them to the intent's events. Outside a collection, reporting is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

_collected: ContextVar[list[dict[str, Any]] | None] = ContextVar("doiflow_calls", default=None)


def record(**call: Any) -> None:
    """Report one request (service, method, target, status, elapsed_ms, …).

    Each is stamped with the moment it was answered (`at`): the runner writes them only
    when it records the outcome, and the timeline must still show them before it.
    """
    calls = _collected.get()
    if calls is not None:
        calls.append({"at": datetime.now(UTC), **call})


@contextmanager
def collect() -> Iterator[list[dict[str, Any]]]:
    """Collect the calls made inside the block into the yielded list."""
    calls: list[dict[str, Any]] = []
    token = _collected.set(calls)
    try:
        yield calls
    finally:
        _collected.reset(token)
