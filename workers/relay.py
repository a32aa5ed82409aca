"""The relay: moves due outbox intents onto Dramatiq queues, and rescues lost ones.

Claims are committed *before* messages are sent: a crash in between leaves rows
`enqueued` with a lease that expires, and `rescue_expired` puts them back. When the
broker refuses a batch, its claims are put back to pending at once (fenced by their
lease tokens) instead of waiting out the lease. Several relays may run at once:
`FOR UPDATE SKIP LOCKED` keeps their claims apart, so when one dies the others carry on.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import dramatiq
import psycopg
from sqlalchemy.orm import Session

from app import claiming, outbox, watchdog
from app.config import Settings
from app.db import is_postgres, utcnow
from app.runtime import Runtime
from app.topics import REGISTRY, Topic
from workers import sending

log = logging.getLogger("doiflow.relay")

# How often, at most, the relay records that it is alive and moving (one small upsert).
BEAT_SECONDS = 1.0
# How often, at most, a pass looks for expired leases to rescue.
RESCUE_SECONDS = 1.0
# Batches at least this large are sent from the sender thread while the next is claimed;
# smaller ones (light load, where each message's latency is what counts) are sent at
# once, unless the sender is still busy (then after its batches, in order).
SEND_AHEAD_FROM = 50


class Relay:
    """One relay loop over a Runtime's database and a Dramatiq broker."""

    def __init__(self, runtime: Runtime, broker: dramatiq.Broker) -> None:
        self.runtime = runtime
        self.broker = broker
        self.settings = runtime.settings
        self.name = f"relay:{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._beat_at = 0.0
        self.next_due = self.settings.relay_poll_seconds
        self._in_flight_at_most = self.settings.relay_max_in_flight  # unknown: count first
        self._rescue_at: datetime | None = None
        self._sender: _Sender | None = None  # run_forever sends in a thread of its own
        self._maintained = False  # run_forever rescues and beats from a thread of its own
        self._passes = 0  # passes completed: the beat says the loop moves, not just lives
        self._beaten_passes = -1
        self._pass_started = 0.0  # monotonic time the loop's last pass began

    def run_once(self, now: datetime | None = None) -> int:
        """Claim and send one batch, then rescue expired leases; returns how many were sent.

        The claim and the send are the path from an intent's commit to its message, so
        nothing else runs before them: the rescue and the liveness beat (each at most
        once a second) come after, in transactions of their own.
        """
        settings = self.settings
        now = now or utcnow()
        self.next_due = settings.relay_poll_seconds
        with self.runtime.sessions.begin() as session:
            room = self._room(session)
            if room > 0:
                batch = claiming.claim_batch(
                    session, limit=room, lease_seconds=settings.lease_seconds, now=now
                )
                claims, soonest = batch.claims, batch.next_due_in
            else:
                claims, soonest = [], claiming.seconds_to_next_due(session, now=now)
        if soonest is not None:
            # A snoozed intent (a 429, our rate limit) is claimed the moment it is due.
            self.next_due = min(self.next_due, soonest)
        sender = self._sender
        if sender is not None and (len(claims) >= SEND_AHEAD_FROM or sender.busy):
            sender.submit(claims)  # sent while the next pass claims
            sent = len(claims)
        else:
            sent = self._send(claims)
        self._in_flight_at_most += sent
        self._passes += 1
        if not self._maintained:  # called on its own (tests, one-off): upkeep here
            if self._rescue(now):
                self.next_due = 0.0  # claim what was rescued at once
            self._beat()
        return sent

    def _rescue(self, now: datetime) -> int:
        """Rescue expired leases, at most once every RESCUE_SECONDS of `now`.

        A lease is many seconds long, so a rescue a second late changes nothing, while
        one on every pass is a statement on every pass (every few milliseconds under load).
        """
        if self._rescue_at is not None and now < self._rescue_at:
            return 0
        self._rescue_at = now + timedelta(seconds=RESCUE_SECONDS)
        with self.runtime.sessions.begin() as session:
            rescued = outbox.rescue_expired(session, now=now)
            if rescued and self._maintained:
                outbox.notify(session)  # wakes the loop, to claim them at once
        if rescued:
            log.warning(
                "expired leases rescued", extra={"action": "relay_rescue", "count": rescued}
            )
        return rescued

    def _room(self, session: Session) -> int:
        """How many intents this pass may claim under RELAY_MAX_IN_FLIGHT (a bounded count).

        Completions only lower the number in flight, so the last count plus what was
        sent since is an upper bound: the count runs only when that bound nears the limit.
        """
        batch, limit = self.settings.relay_batch_size, self.settings.relay_max_in_flight
        if self._in_flight_at_most + batch > limit:
            self._in_flight_at_most = claiming.in_flight(session, up_to=limit)
        return max(0, min(batch, limit - self._in_flight_at_most))

    def _send(self, claims: list[outbox.Claim]) -> int:
        known = [c for c in claims if c.topic in REGISTRY]
        self._refuse_unknown([c for c in claims if c.topic not in REGISTRY])
        if not known:
            return 0
        time_limit = delivery_time_limit_ms(self.settings)
        try:
            sending.send(self.broker, known, lambda c: _limit_of(REGISTRY[c.topic], time_limit))
        except Exception:
            log.exception(
                "broker refused a batch; its claims go back to pending",
                extra={"action": "relay_enqueue_failed", "count": len(known)},
            )
            with self.runtime.sessions.begin() as session:
                claiming.release(session, known)
            raise
        return len(known)

    def _refuse_unknown(self, claims: list[outbox.Claim]) -> None:
        """An intent of a topic no worker consumes fails loudly instead of waiting forever."""
        for claim in claims:
            log.error(
                "intent of an unknown topic failed",
                extra={"action": "relay_unknown_topic", "intent_id": claim.intent_id},
            )
            with self.runtime.sessions.begin() as session:
                error = f"no worker consumes the topic {claim.topic!r}"
                outbox.fail(session, claim.intent_id, claim.lease_token, error)

    def _beat(self) -> None:
        """Record progress: at most once every BEAT_SECONDS, and only after a new pass (a
        loop stuck inside a pass stops beating, and the health check says so)."""
        if time.monotonic() - self._beat_at < BEAT_SECONDS or self._passes == self._beaten_passes:
            return
        passes = self._passes
        with self.runtime.sessions.begin() as session:
            watchdog.beat(session, self.name, kind="relay")
        self._beat_at, self._beaten_passes = time.monotonic(), passes

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
        with self._wakeups(stop) as wait, self._sending(), self._upkeep(stop):
            while not stop.is_set():
                self._pass_started = time.monotonic()
                try:
                    sent = self.run_once()
                except Exception:
                    log.exception("relay pass failed", extra={"action": "relay_error"})
                    sent = 0
                    stop.wait(self.settings.relay_poll_seconds)
                if sent < self.settings.relay_batch_size and self.next_due > 0:
                    wait(self.next_due)

    @contextmanager
    def _upkeep(self, stop: threading.Event) -> Iterator[None]:
        """Rescue and beat from a thread of their own, once a second, off the path from an
        intent's commit to its message (a pass that also did them was a late pass)."""
        done = threading.Event()

        def run() -> None:
            while not (stop.is_set() or done.wait(RESCUE_SECONDS)):
                try:
                    self._rescue(utcnow())
                    self._beat()
                except Exception:
                    log.exception("relay upkeep failed", extra={"action": "relay_error"})

        thread = threading.Thread(target=run, name="relay-upkeep", daemon=True)
        self._maintained = True
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
            self._maintained = False

    @contextmanager
    def _sending(self) -> Iterator[None]:
        """Send each batch from a thread of its own while the loop claims the next one.

        A claim mostly waits on Postgres and a send is mostly Python packing messages, so
        the two overlap well. At most one batch waits for the sender; a failed send has
        already put its claims back and is raised by the next submit. On the way out the
        batches claimed are still sent, not left to wait out their leases.
        """
        self._sender = _Sender(self._send)
        try:
            yield
        finally:
            sender, self._sender = self._sender, None
            sender.close()

    @contextmanager
    def _wakeups(self, stop: threading.Event) -> Iterator[Callable[[float], object]]:
        """A wait(timeout) that returns at the first NOTIFY (Postgres) or on `stop`."""
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
                    # list(): the generator holds the connection's lock until exhausted.
                    for note in list(conn.notifies(timeout=min(left, 0.5), stop_after=1)):
                        due_in: float | None
                        if note.payload == outbox.FREED:
                            # A completion: claim soon, once for all that come meanwhile.
                            due_in = self._pass_started + FREED_PASS_SECONDS - time.monotonic()
                        else:
                            due_in = _due_in(note.payload)
                        if due_in is None or due_in <= 0:  # work due now: claim it
                            _drain(conn)
                            return
                        deadline = min(deadline, time.monotonic() + due_in)

            yield wait


class _Sender:
    """One thread sending the batches it is handed, in order, one at a time."""

    def __init__(self, send: Callable[[list[outbox.Claim]], int]) -> None:
        self._send = send
        self._batches: queue.Queue[list[outbox.Claim] | None] = queue.Queue(maxsize=1)
        self._failed: Exception | None = None
        self._pending = 0  # submitted and not yet sent
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="relay-sender", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        """A batch is being sent or waits to be."""
        return self._pending > 0

    def submit(self, claims: list[outbox.Claim]) -> None:
        """Queue a batch (waiting while one is queued already); raise an earlier failure."""
        with self._lock:
            self._pending += 1
        failed, self._failed = self._failed, None
        self._batches.put(claims)  # claimed already: sent (or released) even after a failure
        if failed is not None:
            raise failed

    def close(self) -> None:
        """Send what is queued, then stop the thread."""
        self._batches.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (claims := self._batches.get()) is not None:
            try:
                self._send(claims)
            except Exception as exc:  # logged, and its claims released, by _send
                self._failed = exc
            finally:
                with self._lock:
                    self._pending -= 1


def _due_in(payload: str) -> float | None:
    """Seconds until a notified intent is due; None when it is due now (or unsaid)."""
    try:
        due_in = float(payload) - time.time()
    except ValueError:
        return None
    return due_in if due_in > 0 else None


# After a completion's FREED NOTIFY, the longest since the last pass began before the
# next one: a successor or freed room waits at most this, and a relay under a stream
# of completions runs at most 1 / FREED_PASS_SECONDS claim passes a second for them.
FREED_PASS_SECONDS = 0.05

# How long a wake-up may spend swallowing the NOTIFYs that queued up behind the first.
DRAIN_SECONDS = 0.002


def _drain(conn: psycopg.Connection[object]) -> None:
    """Swallow the NOTIFYs already queued: the claim that follows (its snapshot starts after
    this) covers them. Bounded in time, since under load they never stop arriving."""
    until = time.monotonic() + DRAIN_SECONDS
    for _ in conn.notifies(timeout=0):
        if time.monotonic() >= until:
            return


def _limit_of(topic: Topic, default_ms: int) -> int:
    """A topic's own time limit (a long read such as reconcile), else the default."""
    own = topic.time_limit_seconds
    return default_ms if own is None else max(default_ms, int(own * 1000))


def delivery_time_limit_ms(settings: Settings) -> int:
    """Dramatiq's time limit for one delivery: a look and a write at most, with room.

    The heartbeat keeps the lease alive however long that takes; the limit ends a
    delivery that hangs, and the relay then rescues its intent.
    """
    # Connect (5 s) and read for each of two calls, plus the two transactions.
    return int((2 * (5.0 + settings.datacite_read_timeout) + 10.0) * 1000)
