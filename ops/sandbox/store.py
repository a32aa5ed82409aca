"""DOI records and DataCite's state machine, shared by every server thread."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

from ops.sandbox import doi as doi_strings

DRAFT = "draft"
REGISTERED = "registered"
FINDABLE = "findable"
STATES = (DRAFT, REGISTERED, FINDABLE)

# DataCite's AASM table for DOIs. Any other (event, state) pair is a silent no-op,
# because lupo runs AASM with `whiny_transitions: false`: nothing ever returns to draft.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("publish", DRAFT): FINDABLE,
    ("publish", REGISTERED): FINDABLE,
    ("register", DRAFT): REGISTERED,
    ("hide", FINDABLE): REGISTERED,
    ("show", REGISTERED): FINDABLE,
}

# What a client may write. Everything else in a payload (state, prefix, created, …, or
# a misspelt name) is dropped without complaint, as DataCite's strong parameters do.
WRITABLE = frozenset(
    {
        "url",
        "contentUrl",
        "identifiers",
        "creators",
        "titles",
        "publisher",
        "container",
        "publicationYear",
        "subjects",
        "contributors",
        "dates",
        "language",
        "types",
        "relatedIdentifiers",
        "relatedItems",
        "sizes",
        "formats",
        "version",
        "rightsList",
        "descriptions",
        "geoLocations",
        "fundingReferences",
        "schemaVersion",
        "source",
        "reason",
        "landingPage",
    }
)

Validator = Callable[["DoiRecord", bool], list[dict]]


def utcnow() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


def next_state(state: str, event: object) -> str:
    """Return the state after `event`, or `state` itself when DataCite would ignore it."""
    if not isinstance(event, str):
        return state
    return TRANSITIONS.get((event, state), state)


def apply_changes(metadata: dict, attributes: dict) -> dict:
    """Merge a partial update: null or an empty list clears a field."""
    merged = copy.deepcopy(metadata)
    for key, value in _writable(attributes).items():
        if value is None or value == [] or value == {}:
            merged.pop(key, None)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _writable(attributes: dict) -> dict:
    # lupo's own rewrites of the payload (ops.sandbox.params) happen before this.
    return {key: value for key, value in attributes.items() if key in WRITABLE}


@dataclass
class DoiRecord:
    """One DOI as the sandbox holds it."""

    doi: str
    owner: str
    state: str = DRAFT
    metadata: dict = field(default_factory=dict)
    created: datetime = field(default_factory=utcnow)
    updated: datetime = field(default_factory=utcnow)
    registered: datetime | None = None
    metadata_version: int = 0

    @property
    def prefix(self) -> str:
        """The DOI's prefix."""
        return doi_strings.prefix_of(self.doi)

    @property
    def suffix(self) -> str:
        """The DOI's suffix."""
        return doi_strings.suffix_of(self.doi)

    def clone(self) -> DoiRecord:
        """Return a deep copy, so callers never share state with the store."""
        return replace(self, metadata=copy.deepcopy(self.metadata))


class StoreError(Exception):
    """Base of the store's refusals."""


class NotOwnerError(StoreError):
    """The DOI belongs to another client."""


class AlreadyTakenError(StoreError):
    """A create-only write found the DOI already there."""


class NotDraftError(StoreError):
    """Only drafts can be deleted."""


class InvalidRecordError(StoreError):
    """The record after the change fails validation; nothing was saved."""

    def __init__(self, errors: list[dict]) -> None:
        super().__init__(errors)
        self.errors = errors


class Journal(Protocol):
    """Somewhere the store's DOIs outlive the process (ops.sandbox.persistence)."""

    def load(self) -> list[DoiRecord]:
        """Return the DOIs kept so far."""
        ...

    def save(self, records: Iterable[DoiRecord]) -> None:
        """Keep exactly these DOIs."""
        ...


class Store:
    """Every DOI in the sandbox, guarded by one lock, optionally kept in a journal."""

    def __init__(self, journal: Journal | None = None) -> None:
        self._lock = threading.Lock()
        self._journal = journal
        loaded = journal.load() if journal is not None else []
        self._records: dict[str, DoiRecord] = {record.doi: record for record in loaded}

    def get(self, doi: str) -> DoiRecord | None:
        """Return a copy of the record for `doi`, or None."""
        with self._lock:
            record = self._records.get(doi)
            return record.clone() if record else None

    def all(self) -> list[DoiRecord]:
        """Return copies of every record, oldest first."""
        with self._lock:
            records = [record.clone() for record in self._records.values()]
        return sorted(records, key=lambda record: record.created)

    def write(
        self,
        doi: str,
        attributes: dict,
        *,
        user: str,
        validate: Validator,
        create_only: bool = False,
    ) -> tuple[DoiRecord, bool]:
        """Create or update `doi` atomically; return (record, created)."""
        with self._lock:
            current = self._records.get(doi)
            if current is not None and create_only:
                raise AlreadyTakenError(doi)
            if current is not None and current.owner != user:
                raise NotOwnerError(doi)
            candidate = _candidate(current, doi, attributes, user)
            errors = validate(candidate, current is None)
            if errors:
                raise InvalidRecordError(errors)
            self._put(doi, candidate)
            return candidate.clone(), current is None

    def delete_draft(self, doi: str, *, user: str | None) -> None:
        """Delete a draft DOI owned by `user`."""
        with self._lock:
            current = self._records.get(doi)
            if current is None:
                raise KeyError(doi)
            if current.owner != user:
                raise NotOwnerError(doi)
            if current.state != DRAFT:
                raise NotDraftError(doi)
            self._put(doi, None)

    def seed(self, record: DoiRecord) -> bool:
        """Put `record` in place without any check; return whether it is new."""
        with self._lock:
            created = record.doi not in self._records
            self._put(record.doi, record.clone())
            return created

    def remove(self, doi: str) -> bool:
        """Drop `doi` whatever its state; return whether it existed."""
        with self._lock:
            existed = doi in self._records
            if existed:
                self._put(doi, None)
            return existed

    def clear(self) -> None:
        """Forget every DOI."""
        with self._lock:
            self._keep({})

    def _put(self, doi: str, record: DoiRecord | None) -> None:
        # Called with the lock held; None removes the DOI.
        records = self._records if self._journal is None else dict(self._records)
        if record is None:
            records.pop(doi, None)
        else:
            records[doi] = record
        self._keep(records)

    def _keep(self, records: dict[str, DoiRecord]) -> None:
        # The journal is written first: when it fails, the change is not made at all.
        if self._journal is not None:
            self._journal.save(records.values())
        self._records = records


def _candidate(current: DoiRecord | None, doi: str, attributes: dict, user: str) -> DoiRecord:
    now = utcnow()
    if current is None:
        record = DoiRecord(doi=doi, owner=user, created=now)
    else:
        record = current.clone()
        record.metadata_version += 1
    record.metadata = apply_changes(record.metadata, attributes)
    record.state = next_state(record.state, attributes.get("event"))
    if record.state != DRAFT and record.registered is None:
        record.registered = now
    record.updated = now
    return record
