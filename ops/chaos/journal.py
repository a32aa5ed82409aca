"""The ordered record of every API request a client made, and the client that keeps it."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

API_TIMEOUT = 15


@dataclass
class Entry:
    """One API request and its answer (status None: no answer at all)."""

    client: str
    seq: int
    op: str
    dataset: str | None
    method: str
    path: str
    body: Any
    expected: tuple[int, ...]
    sent: str
    answered: str | None = None
    status: int | None = None
    answer: Any = None
    error: str | None = None
    version: str | None = None

    @property
    def ref(self) -> str:
        """A short name for reports: `client#seq`."""
        return f"{self.client}#{self.seq}"

    @property
    def ok(self) -> bool:
        """A 2xx answer: the change it asked for is committed."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def as_expected(self) -> bool:
        """The status the model predicted when the request was sent."""
        return self.status in self.expected

    def line(self) -> str:
        """One line for a findings report."""
        status = self.status if self.status is not None else f"no answer ({self.error})"
        return f"{self.ref} {self.sent[11:23]} {self.op} {self.method} {self.path} -> {status}"

    def to_json(self) -> dict[str, Any]:
        """The entry as written to the kept logs."""
        return asdict(self)


@dataclass
class Journal:
    """One client's entries, in the order it sent them."""

    client: str
    entries: list[Entry] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, entry: Entry) -> Entry:
        """Append an entry, numbering it."""
        with self._lock:
            entry.seq = len(self.entries) + 1
            self.entries.append(entry)
        return entry

    def snapshot(self) -> list[Entry]:
        """The entries so far."""
        with self._lock:
            return list(self.entries)


class ApiClient:
    """The doiflow JSON API, one bearer token, every call journaled."""

    def __init__(self, url: str, token: str, journal: Journal) -> None:
        self.url = url
        self.journal = journal
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(
        self,
        op: str,
        dataset: str | None,
        method: str,
        path: str,
        body: Any = None,
        expected: tuple[int, ...] = (200,),
        version: str | None = None,
    ) -> Entry:
        """Send one request and journal it with the statuses the model expects."""
        entry = self._entry(op, dataset, method, path, body, expected)
        entry.version = version
        self.journal.add(entry)
        self._send(entry)
        return entry

    def read(self, path: str, dataset: str | None = None) -> Entry:
        """A GET (a poll) that is journaled only when it goes wrong: 5xx or no answer."""
        entry = self._entry("read", dataset, "GET", path, None, (200, 404))
        self._send(entry)
        if entry.status is None or entry.status >= 500:
            self.journal.add(entry)
        return entry

    def _entry(
        self,
        op: str,
        dataset: str | None,
        method: str,
        path: str,
        body: Any,
        expected: tuple[int, ...],
    ) -> Entry:
        return Entry(
            client=self.journal.client,
            seq=0,
            op=op,
            dataset=dataset,
            method=method,
            path=path,
            body=body,
            expected=expected,
            sent=now(),
        )

    def _send(self, entry: Entry) -> None:
        kwargs: dict[str, Any] = {"timeout": API_TIMEOUT}
        if entry.body is not None:
            kwargs["json"] = entry.body
        try:
            response = self.session.request(entry.method, f"{self.url}{entry.path}", **kwargs)
        except requests.RequestException as error:
            entry.error = type(error).__name__
            entry.answered = now()
            return
        entry.answered = now()
        entry.status = response.status_code
        entry.answer = _decoded(response)

    def close(self) -> None:
        """Release the connection pool."""
        self.session.close()


def now() -> str:
    """The current UTC time, ISO 8601 (the sandbox's request log uses the same clock)."""
    return datetime.now(UTC).isoformat()


def _decoded(response: requests.Response) -> Any:
    try:
        return response.json() if response.content else None
    except ValueError:
        return response.text[:2000]
