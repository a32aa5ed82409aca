"""The keyset listing of datasets: a page in id order, and the cursor of the next one."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from app.enums import DoiKind
from app.models import Dataset, Doi


@dataclass(frozen=True)
class DatasetRow:
    """One dataset in a listing: no versions, no metadata (those are one GET away)."""

    id: str
    embargoed: bool
    deleted: bool
    concept_doi: Doi | None


def list_datasets(
    session: Session,
    *,
    after: str | None = None,
    limit: int = 100,
    deleted: bool | None = None,
    embargoed: bool | None = None,
    doi_state: str | None = None,
) -> tuple[list[DatasetRow], str | None]:
    """A page of datasets in id order after `after` (keyset), and the cursor of the next one.

    `doi_state` keeps the datasets that have a DOI (concept or version) in that state.
    Two statements whatever the page: the datasets, then their concept DOIs.
    """
    query = select(Dataset.id, Dataset.embargoed, Dataset.deleted_at).order_by(Dataset.id)
    if after is not None:
        query = query.where(Dataset.id > after)
    if deleted is not None:
        query = query.where(
            Dataset.deleted_at.is_not(None) if deleted else Dataset.deleted_at.is_(None)
        )
    if embargoed is not None:
        query = query.where(Dataset.embargoed.is_(embargoed))
    if doi_state is not None:
        query = query.where(exists().where(Doi.dataset_id == Dataset.id, Doi.state == doi_state))
    rows = session.execute(query.limit(limit + 1)).all()
    page, more = rows[:limit], len(rows) > limit
    ids = [row.id for row in page]
    concepts = (
        {
            doi.dataset_id: doi
            for doi in session.scalars(
                select(Doi).where(Doi.dataset_id.in_(ids), Doi.kind == DoiKind.CONCEPT.value)
            )
        }
        if ids
        else {}
    )
    listed = [
        DatasetRow(row.id, row.embargoed, row.deleted_at is not None, concepts.get(row.id))
        for row in page
    ]
    return listed, (ids[-1] if more else None)
