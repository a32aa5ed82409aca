"""The relay: moves due outbox intents onto Dramatiq queues, and rescues lost ones.

Claims are committed *before* messages are sent: a crash in between leaves rows
`enqueued` with a lease that expires, and `rescue_expired` puts them back. The
reverse order could deliver a message whose lease the database never recorded.
Several relays may run at once: `FOR UPDATE SKIP LOCKED` keeps their claims apart,
so when one dies the others simply carry on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

import dramatiq
import psycopg

from app import outbox
from app.db import is_postgres, utcnow
from app.runtime import Runtime

log = logging.getLogger("doiflow.relay")


class Relay:
    """One relay loop over a Runtime's database and a Dramatiq broker."""

    def __init__(self, runtime: Runtime, broker: dramatiq.Broker) -> None:
        self.runtime = runtime
        self.broker = broker
        self.settings = runtime.settings

    def run_once(self, now: datetime | None = None) -> int:
        """Rescue expired leases, then claim and enqueue one batch; returns how many."""
        settings = self.settings
        now = now or utcnow()
        with self.runtime.sessions.begin() as session:
            rescued = outbox.rescue_expired(session, now=now)
            # Never let more wait in Redis than the workers can start within a lease.
            room = min(
                settings.relay_batch_size, settings.relay_max_in_flight - outbox.in_flight(session)
            )
            claims = (
                outbox.claim_due(session, limit=room, lease_seconds=settings.lease_seconds, now=now)
                if room > 0
                else []
            )
        if rescued:
            log.warning(
                "expired leases rescued", extra={"action": "relay_rescue", "count": rescued}
            )
        for claim in claims:
            self._enqueue(claim)
        return len(claims)

    def _enqueue(self, claim: outbox.Claim) -> None:
        message: dramatiq.Message[None] = dramatiq.Message(
            queue_name=claim.queue,
            actor_name=claim.topic,
            args=(claim.intent_id, claim.lease_token),
            kwargs={},
            # Killed before its lease runs out, so a late finish never overlaps a re-delivery.
            options={"time_limit": int(self.settings.lease_seconds * 900)},
            message_id=str(claim.intent_id),
        )
        try:
            self.broker.enqueue(message)
        except Exception:
            # The lease stays; the intent is re-claimed once it expires.
            log.exception(
                "enqueue failed",
                extra={"action": "relay_enqueue_failed", "intent_id": claim.intent_id},
            )

    def run_forever(self, stop: threading.Event) -> None:
        """Loop until `stop` is set, reconnecting the LISTEN connection when it breaks."""
        while not stop.is_set():
            try:
                self._loop(stop)
            except psycopg.OperationalError:
                log.exception(
                    "relay lost its LISTEN connection", extra={"action": "relay_reconnect"}
                )
                stop.wait(self.settings.relay_poll_seconds)

    def _loop(self, stop: threading.Event) -> None:
        """Drain full batches; otherwise wait for a NOTIFY or the poll interval."""
        with self._wakeups(stop) as wait:
            while not stop.is_set():
                try:
                    claimed = self.run_once()
                except Exception:
                    log.exception("relay pass failed", extra={"action": "relay_error"})
                    claimed = 0
                    stop.wait(self.settings.relay_poll_seconds)
                if claimed < self.settings.relay_batch_size:
                    wait(self.settings.relay_poll_seconds)

    @contextmanager
    def _wakeups(self, stop: threading.Event) -> Iterator[Callable[[float], object]]:
        """A wait(timeout) that returns early on NOTIFY (Postgres) or on `stop`."""
        if not is_postgres(self.runtime.engine):
            yield stop.wait
            return
        url = self.runtime.engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"LISTEN {outbox.NOTIFY_CHANNEL}")

            def wait(timeout: float) -> None:
                # Short slices so a stop request is noticed within half a second.
                deadline = time.monotonic() + timeout
                while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
                    if any(True for _ in conn.notifies(timeout=min(left, 0.5), stop_after=1)):
                        return

            yield wait
