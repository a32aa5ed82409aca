"""Reconciling the database with DataCite: what DataCite really holds for every DOI we know.

Drift comes in five kinds: DataCite's `state` differs from ours, its `url` differs
from the one it last confirmed, its `metadata` differs from what it last confirmed
(our desired hash equals the confirmed hash, yet DataCite's record does not carry it),
the DOI is `missing` at DataCite, and DOIs under our prefix and instance that DataCite
holds and doiflow does not know (`unknown`: listed, never deleted).

Reads go through the shared DataCite token bucket, with no transaction open: the
client's paginated listing (`GET /dois?client-id&prefix&page[cursor]`) for a full run,
one `GET /dois/{doi}` per DOI with `--dataset`, and a GET to confirm every DOI the
listing did not show before it is called missing. `fix` never writes to DataCite: it
marks each drifting DOI "look first" (what DataCite holds is unknown again, as after a
re-drive) and queues a sync through the DOI policy and the outbox, whose delivery reads
DataCite's record, records its real state and re-sends what differs.

`doiflow doi reconcile` runs it from the command line; the `doi.reconcile` topic runs
it on the doi queue (the clock schedules it nightly).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from app import metrics, outbox
from app.clients.datacite import DataCiteClient
from app.clients.errors import PermanentError, RemoteDoi, RemoteError
from app.clients.remotes import Remotes
from app.config import Settings
from app.db import utcnow
from app.enums import DoiState, IntentStatus
from app.models import Dataset, Doi, Intent
from app.retry import RetryDecision
from app.runner import Failure
from app.services import audit, payloads
from app.services.doi_policy import request_sync, sync_key
from app.services.metadata import metadata_hash, remote_holds
from app.topics import RECONCILE

log = logging.getLogger("doiflow.reconcile")

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
LIST_SIZE = 1000
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


Take = Callable[[], None]


def bucket_taker(bucket: Any) -> Take:
    """Block until the shared bucket grants a token (a reserved one is ours after the wait)."""

    def take() -> None:
        while True:
            grant = bucket.take()
            if grant.wait > 0:
                metrics.observe_bucket_wait(grant.wait)
                time.sleep(grant.wait)
            if grant.wait == 0 or grant.reserved:
                return

    return take


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


def read_listing(
    client: DataCiteClient,
    settings: Settings,
    take: Take,
    progress: Callable[[int], None] = lambda n: None,
    *,
    size: int = LIST_SIZE,
) -> Iterator[list[RemoteDoi]]:
    """DataCite's DOIs for our client and prefix, a page at a time, each read paced."""
    cursor: str | None = None
    while True:
        take()
        records, cursor = client.list_page(
            client_id=settings.datacite_user or "",
            prefix=settings.datacite_prefix or "",
            cursor=cursor,
            size=size,
        )
        progress(len(records))
        yield records
        if cursor is None or len(records) < size:
            return


def read_each(
    client: DataCiteClient, dois: Iterable[str], take: Take, progress: Callable[[int], None]
) -> dict[str, RemoteDoi | None]:
    """One GET per DOI (None: DataCite does not have it)."""
    found: dict[str, RemoteDoi | None] = {}
    for doi in dois:
        take()
        found[doi] = client.get(doi)
        progress(1)
    return found


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
    busy = _in_flight(session, [d for d in rows.values() if d.state in COMPARED])
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


def _in_flight(session: Session, dois: list[Doi]) -> set[int]:
    """Ids of the DOIs with a sync waiting or in flight."""
    if not dois:
        return set()
    by_key = {sync_key(d): d.id for d in dois}
    keys = session.scalars(
        select(Intent.key).where(Intent.key.in_(list(by_key)), Intent.status.in_(OPEN))
    )
    return {by_key[k] for k in keys}


def fix(
    session: Session,
    settings: Settings,
    drifts: list[Drift],
    *,
    actor: str,
    read_at: datetime | None = None,
) -> int:
    """Queue a look-first sync for every DOI with fixable drift; returns how many were queued.

    Each DOI is locked and re-checked: one that changed since it was read (`read_at`; a
    sync queued or in doubt meanwhile) is left to that sync.
    """
    by_doi: dict[str, list[Drift]] = {}
    for item in drifts:
        if item.kind in FIXABLE:
            by_doi.setdefault(item.doi, []).append(item)
    queued = 0
    for name, found in by_doi.items():
        doi = session.scalars(select(Doi).where(Doi.doi == name).with_for_update()).first()
        if doi is None or doi.in_doubt or doi.state == DoiState.DELETED.value:
            continue
        if read_at is not None and doi.updated_at >= read_at:
            continue
        if _in_flight(session, [doi]):
            continue
        # What DataCite holds is unknown again: the delivery looks before it decides. No
        # write of ours is in flight, so nobody waits the write grace.
        grace = timedelta(seconds=settings.datacite_write_grace_seconds)
        doi.in_doubt_since = utcnow() - grace
        session.flush()
        if request_sync(session, settings, doi) is not None:
            queued += 1
        audit.record(
            session,
            actor,
            "reconcile_fix",
            doi.doi,
            reason="DataCite differs from doiflow",
            drift=[d.as_json() for d in found],
        )
    return queued


def read(
    client: DataCiteClient,
    settings: Settings,
    take: Take,
    known: list[str],
    *,
    listed: bool,
    progress: Callable[[int], None] = lambda n: None,
) -> dict[str, RemoteDoi | None]:
    """What DataCite holds: its listing (a full run) or one GET per DOI; no transaction open.

    A known DOI the listing did not show gets a GET of its own before it counts as missing.
    """
    remote: dict[str, RemoteDoi | None] = {}
    if listed:
        for page in read_listing(client, settings, take, progress):
            remote.update((record.doi, record) for record in page)
    unseen = [doi for doi in known if doi not in remote]
    remote.update(read_each(client, unseen, take, progress))
    return remote


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


def schedule(session: Session, *, fix: bool = False, dataset_ids: Iterable[str] = ()) -> Intent:
    """Queue a reconciliation on the doi queue (the clock's nightly call); coalesced."""
    payload: dict[str, Any] = {"fix": fix}
    ids = list(dataset_ids)
    if ids:
        payload["datasets"] = ids
    return outbox.add(session, RECONCILE, key=RECONCILE.name, payload=payload)


@dataclass(frozen=True)
class Plan:
    known: tuple[str, ...]
    dataset_ids: tuple[str, ...]
    fix: bool


@dataclass
class Outcome:
    remote: dict[str, RemoteDoi | None] = field(default_factory=dict)
    read_at: datetime | None = None
    error: RemoteError | None = None


class ReconcileHandler:
    """Runner handler for `doi.reconcile`: read DataCite, then compare and fix in `record`."""

    topic = RECONCILE

    def prepare(self, session: Session, settings: Settings, intent: Intent) -> Plan | None:
        if not settings.datacite_configured:
            return None
        ids = tuple(str(i) for i in intent.payload.get("datasets") or ())
        return Plan(tuple(known_dois(session, ids)), ids, bool(intent.payload.get("fix")))

    def execute(self, remotes: Remotes, plan: Plan) -> Outcome:
        client = remotes.datacite
        if client is None:
            return Outcome(error=PermanentError("DataCite is not configured in this worker"))
        take = bucket_taker(remotes.datacite_bucket)
        listed, read_at = not plan.dataset_ids, utcnow()
        remote = read(client, remotes.settings, take, list(plan.known), listed=listed)
        return Outcome(remote, read_at)

    def record(
        self,
        session: Session,
        settings: Settings,
        intent: Intent,
        plan: Plan | None,
        outcome: Outcome | Failure,
        decision: RetryDecision | None,
    ) -> RetryDecision | None:
        """Compare, fix when asked, and keep the report on the intent's timeline."""
        if plan is None or decision is not None or not isinstance(outcome, Outcome):
            return None
        report = Report(listed=not plan.dataset_ids, read_at=outcome.read_at)
        compare_page(session, settings, outcome.remote, report)
        if plan.fix and report.drifts:
            report.queued = fix(
                session, settings, report.drifts, actor="doiflow:reconcile", read_at=report.read_at
            )
        outbox.record_event(session, intent.id, "reconciled", **report.as_json())
        log.log(
            logging.WARNING if report.drifts else logging.INFO,
            "reconciled with DataCite",
            extra={"action": "reconcile", **report.counts(), "queued": report.queued},
        )
        return None

    def context(self, plan: Plan) -> dict[str, Any]:
        return {"dois": len(plan.known), "fix": plan.fix}


HANDLER = ReconcileHandler()
