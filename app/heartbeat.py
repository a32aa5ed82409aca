"""A delivery's lease kept alive while its remote step runs, so leases can be short.

Every `lease / 3` seconds a background thread pushes the lease's expiry out again (one
fenced UPDATE in its own short transaction). A killed worker stops beating, so its
intent is rescued within one lease; a slow DataCite call is not. A beat that finds the
lease gone stops: the runner's fenced record step then drops the late result.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from app import outbox
from app.runtime import Runtime

log = logging.getLogger("doiflow.runner")


class Heartbeat:
    """Renews one delivery's lease until stopped (a context manager around the call)."""

    def __init__(self, runtime: Runtime, intent_id: int, lease_token: str) -> None:
        self.runtime = runtime
        self.intent_id = intent_id
        self.lease_token = lease_token
        self.lease_seconds = runtime.settings.lease_seconds
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"heartbeat-{intent_id}", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=self.lease_seconds)

    def _run(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            try:
                self.beat()
            except outbox.LeaseLostError:
                self.lost = True
                log.warning("lease lost during the call", extra={"action": "heartbeat_lost"})
                return
            except Exception:  # the database blinked: the next beat may make it
                log.exception("heartbeat failed", extra={"action": "heartbeat_failed"})

    def beat(self) -> None:
        """Push the lease out by a whole lease from now (fenced)."""
        with self.runtime.sessions.begin() as session:
            outbox.renew_lease(session, self.intent_id, self.lease_token, self.lease_seconds)
