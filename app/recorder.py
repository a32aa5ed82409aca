"""Deliveries' outcomes recorded by a thread of their own, so a worker thread is free for
its next call as soon as DataCite has answered.

A delivery holds its worker thread for its start, its remote call and its record. The
record (a transaction of several statements and a commit) cost a worker thread about
9 ms per delivery at 50 ms of DataCite latency: a seventh of what the thread could have
spent calling. River completes jobs the same way (its batch completer writes a job's
completion after the worker has returned).

Nothing is lost when a process dies with outcomes still queued here: each intent stays
leased until its record commits, and the heartbeat keeps renewing that lease while the
outcome waits, so an intent is re-delivered only when its process is gone (rescued
after one lease, like a delivery killed mid-call: its write may have landed, so the
re-run looks first). The queue is bounded: when the database is too slow to keep up,
worker threads wait to hand over an outcome instead of piling up calls nobody records.
Stopping the worker drains it (`drain`).
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger("doiflow.runner")

ItemT = TypeVar("ItemT")

# Outcomes waiting for the recorder before a worker thread waits to hand over its own.
QUEUE_LIMIT = 64


class BackgroundRecorder(Generic[ItemT]):
    """Threads that run `record` for each submitted item (in order when there is one)."""

    def __init__(
        self, record: Callable[[ItemT], None], *, threads: int = 1, limit: int = QUEUE_LIMIT
    ) -> None:
        self._record = record
        self.threads = threads
        # Each item with the submitter's context: its log fields (intent, DOI) go along.
        self._queue: queue.Queue[tuple[contextvars.Context, ItemT]] = queue.Queue(limit)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0  # submitted and not yet recorded
        self._running: list[threading.Thread] = []

    def submit(self, item: ItemT) -> None:
        """Queue `item` for recording; waits while the queue is full."""
        with self._lock:
            self._pending += 1
            self._running = [thread for thread in self._running if thread.is_alive()]
            while len(self._running) < self.threads:
                thread = threading.Thread(target=self._run, name="recorder", daemon=True)
                thread.start()
                self._running.append(thread)
        try:
            self._queue.put((contextvars.copy_context(), item))
        except BaseException:  # interrupted while waiting for room: never queued
            self._settled()
            raise

    def drain(self, timeout: float) -> bool:
        """Wait until everything submitted is recorded; False if `timeout` ran out first."""
        with self._idle:
            if self._idle.wait_for(lambda: self._pending == 0, timeout):
                return True
            left = self._pending
        log.warning(
            "outcomes left unrecorded at shutdown; their intents are re-delivered after a lease",
            extra={"action": "recorder_drain_timeout", "left": left},
        )
        return False

    def _run(self) -> None:
        while True:
            context, item = self._queue.get()
            try:
                context.run(self._record, item)
            except Exception:  # `record` settles its own failures; this is a last resort
                log.exception("recording failed", extra={"action": "delivery_crashed"})
            finally:
                self._settled()

    def _settled(self) -> None:
        """One submitted item less to wait for (recorded, or never queued)."""
        with self._idle:
            self._pending -= 1
            if self._pending == 0:
                self._idle.notify_all()
