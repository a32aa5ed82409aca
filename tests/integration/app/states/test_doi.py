"""The DOI machine against a real database: two sessions racing one transition."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from app.models import Dataset, Doi
from app.states.doi import apply


def test_two_sessions_racing_the_same_transition_cannot_both_win(runtime) -> None:
    with runtime.sessions.begin() as session:
        session.add(Dataset(id="race", draft_metadata={}))
        session.flush()
        session.add(Doi(doi="10.80507/test.race", kind="concept", dataset_id="race"))
    first, second = runtime.sessions(), runtime.sessions()
    doi_a = first.scalars(select(Doi)).one()
    doi_b = second.scalars(select(Doi)).one()
    apply(doi_a, "confirm_draft", publishing_allowed=True)
    apply(doi_b, "fail", publishing_allowed=True)
    first.commit()
    with pytest.raises(StaleDataError):
        second.commit()
    second.rollback()
    with runtime.sessions() as session:
        doi = session.scalars(select(Doi)).one()
        assert doi.state == "draft"
        assert [h.event for h in doi.history] == ["confirm_draft"]
    first.close()
    second.close()
