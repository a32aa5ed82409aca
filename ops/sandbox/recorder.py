"""The log of API requests the sandbox received, for tests to assert on."""

from __future__ import annotations

import copy
import threading
from datetime import UTC, datetime


class RequestRecorder:
    """Every API request in arrival order, with its outcome once known."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict] = []

    def start(self, method: str, path: str, doi: str | None, event: str | None) -> dict:
        """Record an arriving request; the returned entry is completed by `finish`."""
        entry = {
            "method": method,
            "path": path,
            "doi": doi,
            "event": event,
            "status": None,
            "fault": None,
            "time": datetime.now(UTC).isoformat(),
        }
        with self._lock:
            self._entries.append(entry)
        return entry

    def note_fault(self, entry: dict, fault: str | None) -> None:
        """Say which fault hit the request, visible while it is still stalled."""
        with self._lock:
            entry["fault"] = fault

    def finish(self, entry: dict, status: int | None) -> None:
        """Fill in the answer: the status, or None when the connection was dropped."""
        with self._lock:
            entry["status"] = status

    def entries(self) -> list[dict]:
        """Return a copy of the log."""
        with self._lock:
            return copy.deepcopy(self._entries)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
