"""Reconciling the database with DataCite: what DataCite really holds for every DOI we know.

Drift comes in five kinds: DataCite's `state` differs from ours, its `url` differs
from the one it last confirmed, its `metadata` differs from what it last confirmed
(our desired hash equals the confirmed hash, yet DataCite's record does not carry it),
the DOI is `missing` at DataCite, and DOIs under our prefix and instance that DataCite
holds and doiflow does not know (`unknown`: listed, never deleted).

This module compares; DataCite is read in `reconcile_read` (paced, no transaction
open), drift is fixed in `reconcile_fix` (never by writing to DataCite).

`doiflow doi reconcile` runs it from the command line; the `doi.reconcile` topic runs
it on the doi queue (`reconcile_task`; the clock schedules it nightly).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from app.clients.errors import RemoteDoi
from app.config import Settings
from app.enums import DoiState, IntentStatus
from app.models import Dataset, Doi, Intent
from app.services import payloads
from app.services.doi_policy import sync_key
from app.services.metadata import metadata_hash, remote_holds

KINDS = ("state", "url", "metadata", "missing", "unknown")
FIXABLE = frozenset({"state", "url", "metadata", "missing"})
# A DOI in these states has something at DataCite (or, deleted, must have nothing).
COMPARED = (
    DoiState.DRAFT.value,
    DoiState.FINDABLE.value,
    DoiState.REGISTERED.value,
    DoiState.DELETED.value,
)
PAGE = 500
OPEN = (IntentStatus.PENDING.value, IntentStatus.ENQUEUED.value)


@dataclass(frozen=True)
class Drift:
    """One way DataCite differs from doiflow for one DOI."""

    doi: str
    kind: str
    ours: str | None
    theirs: str | None
    dataset: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "doi": self.doi,
            "kind": self.kind,
            "ours": self.ours,
            "theirs": self.theirs,
            "dataset": self.dataset,
        }


@dataclass
class Report:
    """What one run found and, with fix, queued."""

    checked: int = 0
    skipped: int = 0  # in flight (a sync queued or in doubt): the sync decides, not us
    drifts: list[Drift] = field(default_factory=list)
    queued: int = 0
    listed: bool = False  # unknown DOIs were looked for (a full run)
    # When the reads began: a DOI changed since then may be newer than what we read.
    read_at: datetime | None = None

    def counts(self) -> dict[str, int]:
        return {kind: sum(d.kind == kind for d in self.drifts) for kind in KINDS}

    def as_json(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "skipped": self.skipped,
            "counts": self.counts(),
            "drift": [d.as_json() for d in self.drifts],
            "queued": self.queued,
            "looked_for_unknown": self.listed,
        }


def our_prefix(settings: Settings) -> str:
    """Every DOI doiflow mints starts with this (prefix and instance)."""
    return f"{settings.datacite_prefix}/{settings.doi_instance}.".lower()


def known_dois(session: Session, dataset_ids: Iterable[str] = ()) -> list[str]:
    """The DOIs whose record at DataCite is compared (of these datasets, when given)."""
    query = select(Doi.doi).where(Doi.state.in_(COMPARED)).order_by(Doi.id)
    ids = list(dataset_ids)
    if ids:
        query = query.where(Doi.dataset_id.in_(ids))
    return list(session.scalars(query))


def compare_page(
    session: Session, settings: Settings, remote: dict[str, RemoteDoi | None], report: Report
) -> None:
    """Compare the DOIs of `remote` that doiflow knows; DOIs it does not know are `unknown`."""
    rows = {
        doi.doi: doi
        for doi in session.scalars(
            select(Doi)
            .where(Doi.doi.in_(list(remote)))
            .options(
                joinedload(Doi.dataset).selectinload(Dataset.versions), selectinload(Doi.version)
            )
        )
    }
    busy = in_flight(session, [d for d in rows.values() if d.state in COMPARED])
    mine = our_prefix(settings)
    for name, record in remote.items():
        row = rows.get(name)
        if row is None:
            if record is not None and name.startswith(mine):
                report.drifts.append(Drift(name, "unknown", None, record.state))
            continue
        changed = report.read_at is not None and row.updated_at >= report.read_at
        if row.state not in COMPARED or row.id in busy or row.in_doubt or changed:
            report.skipped += 1
            continue
        report.checked += 1
        report.drifts += compare(session, settings, row, record)


def compare(
    session: Session, settings: Settings, doi: Doi, remote: RemoteDoi | None
) -> list[Drift]:
    """How DataCite's record of one settled DOI differs from ours."""

    def drift(kind: str, ours: str | None, theirs: str | None) -> Drift:
        return Drift(doi.doi, kind, ours, theirs, doi.dataset_id)

    if doi.state == DoiState.DELETED.value:
        return [] if remote is None else [drift("state", doi.state, remote.state)]
    if remote is None:
        return [drift("missing", doi.state, None)]
    found = []
    if remote.state != doi.state:
        found.append(drift("state", doi.state, remote.state))
    if remote.url != doi.confirmed_url:
        found.append(drift("url", doi.confirmed_url, remote.url))
    desired = payloads.desired_attributes(session, settings, doi)
    # Compared only when DataCite confirmed what we want now; otherwise a sync is owed,
    # which is work in progress, not drift. The URL is its own kind.
    if metadata_hash(desired) == doi.confirmed_hash:
        wanted = {k: v for k, v in desired.items() if k != "url"}
        if not remote_holds(remote.attributes, wanted):
            found.append(drift("metadata", doi.confirmed_hash, "differs"))
    return found


def in_flight(session: Session, dois: list[Doi]) -> set[int]:
    """Ids of the DOIs with a sync waiting or in flight."""
    if not dois:
        return set()
    by_key = {sync_key(d): d.id for d in dois}
    keys = session.scalars(
        select(Intent.key).where(Intent.key.in_(list(by_key)), Intent.status.in_(OPEN))
    )
    return {by_key[k] for k in keys}


def compare_all(
    sessions: Callable[[], Any],
    settings: Settings,
    remote: dict[str, RemoteDoi | None],
    *,
    read_at: datetime | None = None,
) -> Report:
    """Compare everything read, a page of DOIs per session."""
    report = Report(read_at=read_at)
    names = list(remote)
    for start in range(0, len(names), PAGE):
        with sessions() as session:
            page = {name: remote[name] for name in names[start : start + PAGE]}
            compare_page(session, settings, page, report)
    return report
