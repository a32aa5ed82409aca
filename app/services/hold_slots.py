"""One HOLD_CONCURRENCY slot around a `holds` delivery's S3 calls (see app.semaphore for why)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from app.clients.errors import ThrottledError
from app.clients.remotes import Remotes

# Wait this long for a slot before giving the worker thread back (a snooze, no attempt).
WAIT_SECONDS = 5.0
SNOOZE_SECONDS = 0.5


@contextmanager
def slot(remotes: Remotes) -> Iterator[None]:
    """Hold one slot for the block; ThrottledError (a snooze) when none came free in time."""
    slots = remotes.hold_slots
    token = slots.acquire(timeout=WAIT_SECONDS)
    if token is None:
        raise ThrottledError(
            f"all {slots.limit} HOLD_CONCURRENCY slots are taken",
            retry_after=SNOOZE_SECONDS,
            exact=True,
        )
    try:
        yield
    finally:
        slots.release(token)
