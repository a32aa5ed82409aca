"""Deliveries' leases kept alive while their remote steps run, so leases can be short.

One thread per process (started on first use) renews the lease of every delivery that
is calling out or whose outcome waits for the recorder (`app.recorder`), every
`lease / 3` seconds, each with one fenced UPDATE in a short
transaction of its own. A killed worker stops beating, so its intent is rescued within
one lease; a slow DataCite call is not. A beat that finds a lease gone marks that
delivery lost and stops renewing it: the runner's fenced record step then drops the
late result. (A thread per delivery cost more than the delivery's own SQL.)
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

from app import outbox
from app.runtime import Runtime

log = logging.getLogger("doiflow.runner")


@dataclass
class _Beating:
    intent_id: int
    lease_token: str
    lost: bool = False


@dataclass
class Heartbeats:
    """The process's renewer: `keeping(id, token).start()` when a call starts, `stop()` when
    its record starts (or `with heartbeats.keeping(id, token):` around a call)."""

    runtime: Runtime
    _active: dict[int, _Beating] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def keeping(self, intent_id: int, lease_token: str) -> Keeping:
        """A context manager that keeps this delivery's lease alive while it is open."""
        return Keeping(self, _Beating(intent_id, lease_token))

    def _add(self, beating: _Beating) -> None:
        with self._lock:
            self._active[beating.intent_id] = beating
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="heartbeats", daemon=True)
                self._thread.start()

    def _remove(self, beating: _Beating) -> None:
        with self._lock:
            if self._active.get(beating.intent_id) is beating:
                del self._active[beating.intent_id]

    def _run(self) -> None:
        interval = self.runtime.settings.lease_seconds / 3
        while True:
            time.sleep(interval)
            with self._lock:
                due = list(self._active.values())
            for beating in due:
                with self._lock:
                    # A delivery that left its call meanwhile is recording, its intent row
                    # locked: a beat would wait for that commit, and every lease behind it.
                    still = self._active.get(beating.intent_id) is beating
                if still:
                    self.beat(beating)

    def beat(self, beating: _Beating) -> None:
        """Push one lease out by a whole lease from now (fenced); stop it when it is gone."""
        try:
            with self.runtime.sessions.begin() as session:
                outbox.renew_lease(
                    session,
                    beating.intent_id,
                    beating.lease_token,
                    self.runtime.settings.lease_seconds,
                )
        except outbox.LeaseLostError:
            with self._lock:
                calling = self._active.get(beating.intent_id) is beating
            if not calling:
                return  # it left its call meanwhile and recorded: nothing was lost
            beating.lost = True
            self._remove(beating)
            log.warning(
                "lease lost before the outcome was recorded",
                extra={"action": "heartbeat_lost", "intent_id": beating.intent_id},
            )
        except Exception:  # the database blinked: the next beat may make it
            log.exception("heartbeat failed", extra={"action": "heartbeat_failed"})


@dataclass
class Keeping:
    """One delivery's place in the heartbeat, from its call until its record starts."""

    heartbeats: Heartbeats
    beating: _Beating

    @property
    def lost(self) -> bool:
        return self.beating.lost

    def start(self) -> Keeping:
        """Renew this delivery's lease from now on, until `stop`."""
        self.heartbeats._add(self.beating)
        return self

    def stop(self) -> None:
        """Stop renewing (at once; a second stop changes nothing)."""
        self.heartbeats._remove(self.beating)

    def __enter__(self) -> Keeping:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
