"""`insert_as_loaded`: one INSERT, an object as if loaded, and the unit of work none the wiser."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from app.db import insert_as_loaded
from app.models import Dataset, Doi
from app.runtime import Runtime
from tests.support.sql import first_words, statements


def _doi(dataset_id: str) -> Doi:
    return Doi(doi=f"10.80507/test.{dataset_id}", kind="concept", dataset_id=dataset_id, history=[])


def test_the_row_is_written_whole_and_the_object_needs_no_read_back(runtime: Runtime) -> None:
    with runtime.sessions.begin() as session, statements(runtime) as sent:
        dataset = Dataset(id="loaded", embargoed=False, draft_metadata={"a": 1}, versions=[])
        assert insert_as_loaded(session, dataset)
        doi = _doi("loaded")
        assert insert_as_loaded(session, doi)
        # Every column is known (defaults applied, the key from RETURNING): reading
        # them, and the relationships set before, sends nothing
        assert (doi.state, doi.target, doi.attempts, doi.row_version) == ("pending", "draft", 0, 1)
        assert doi.id is not None
        assert doi.created_at is not None
        assert doi.history == []
        assert dataset.deleted_at is None
        assert dataset.versions == []
        # And nothing is left for the flush
        assert not session.new
        assert not session.dirty
        assert doi in session
        assert dataset in session
    assert first_words(sent) == ["INSERT INTO datasets", "INSERT INTO dois"]
    with runtime.sessions() as session:
        row = session.get(Doi, doi.id)
        assert (row.doi, row.dataset_id, row.state, row.row_version) == (
            "10.80507/test.loaded",
            "loaded",
            "pending",
            1,
        )
        assert session.get(Dataset, "loaded").draft_metadata == {"a": 1}


def test_a_later_change_in_the_same_session_is_a_versioned_update(runtime: Runtime) -> None:
    with runtime.sessions.begin() as session:
        insert_as_loaded(session, Dataset(id="later", embargoed=False, draft_metadata={}))
        doi = _doi("later")
        insert_as_loaded(session, doi)
        doi.target = "findable"
    with runtime.sessions() as session:
        row = session.get(Doi, doi.id)
        assert (row.target, row.row_version) == ("findable", 2)
    # And the optimistic lock still holds against a writer that got there first
    with runtime.sessions.begin() as other:
        other.get(Doi, doi.id).state = "draft"
    with runtime.sessions() as session:
        session.add(doi)  # row_version 2 in hand, 3 in the database
        doi.state = "failed"
        with pytest.raises(StaleDataError):
            session.flush()


def test_unless_exists_reports_a_conflict_and_the_transaction_goes_on(runtime: Runtime) -> None:
    with runtime.sessions.begin() as session:
        insert_as_loaded(session, Dataset(id="Taken", embargoed=True, draft_metadata={}))
    with runtime.sessions.begin() as session:
        # The unique index on lower(id) refuses "taken": nothing inserted, no error raised
        refused = Dataset(id="taken", embargoed=True, draft_metadata={})
        assert insert_as_loaded(session, refused, unless_exists=True) is False
        assert refused not in session
        # And the transaction is not aborted: it still reads and writes
        assert session.scalar(select(Dataset.id).where(Dataset.id == "Taken")) == "Taken"
        assert insert_as_loaded(session, Dataset(id="free", embargoed=True, draft_metadata={}))
    with runtime.sessions() as session:
        assert sorted(session.scalars(select(Dataset.id))) == ["Taken", "free"]
