"""Small helpers shared by the lifecycle tests: metadata, service calls in a transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.models import Doi, Intent, Job
from app.runtime import Runtime
from app.services import datasets, versions

PREFIX = "10.80507"


def metadata(title: str = "Mouse cortex recordings") -> dict[str, Any]:
    """Valid kernel-4 metadata for a dataset or version."""
    return {
        "titles": [{"title": title}],
        "creators": [{"name": "Doe, Jane", "nameType": "Personal"}],
        "publisher": {"name": "Example Archive"},
        "publicationYear": "2026",
        "types": {"resourceTypeGeneral": "Dataset", "resourceType": "Neurophysiology"},
    }


def blob(n: int = 1) -> dict[str, Any]:
    return {"key": f"blobs/{n:03d}", "version_id": f"v{n}", "sha256": f"{n:064x}", "size": 1000 + n}


def call(runtime: Runtime, function: Any, *args: Any, **kwargs: Any) -> Any:
    """Run one service function in its own transaction, as a view would."""
    with runtime.sessions.begin() as session:
        return function(runtime.settings, session, *args, **kwargs)


def create(
    runtime: Runtime, dataset_id: str, *, embargoed: bool = False, title: str = "Draft title"
) -> None:
    call(
        runtime, datasets.create_dataset, dataset_id, embargoed=embargoed, metadata=metadata(title)
    )


def publish(
    runtime: Runtime, dataset_id: str, version: str, *, title: str = "Published title"
) -> int:
    """Publish a version; returns the job id."""
    _, job = call(
        runtime,
        versions.publish_version,
        dataset_id,
        name=version,
        metadata=metadata(title),
        blobs=[blob()],
    )
    return int(job.id)


def doi_row(runtime: Runtime, doi: str) -> Doi | None:
    """The DOI row with its history loaded (it is read after the session closes)."""
    with runtime.sessions() as session:
        query = select(Doi).where(Doi.doi == doi).options(selectinload(Doi.history))
        return session.scalars(query).first()


def doi_state(runtime: Runtime, doi: str) -> str | None:
    row = doi_row(runtime, doi)
    return row.state if row is not None else None


def job_status(runtime: Runtime, job_id: int) -> str:
    with runtime.sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job.status


def count_rows(runtime: Runtime, model: Any) -> int:
    with runtime.sessions() as session:
        return len(session.scalars(select(model)).all())


def open_intents(runtime: Runtime) -> list[Intent]:
    with runtime.sessions() as session:
        return list(
            session.scalars(select(Intent).where(Intent.status.in_(("pending", "enqueued"))))
        )


def concept(dataset_id: str) -> str:
    return f"{PREFIX}/test.{dataset_id}".lower()


def version_doi(dataset_id: str, version: str) -> str:
    return f"{concept(dataset_id)}/{version}".lower()


def writes(requests_log: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    """(method, doi, event) of every non-GET request, in order."""
    return [(r["method"], r["doi"], r.get("event")) for r in requests_log if r["method"] != "GET"]
