"""The legal-hold machine against a real database: two sessions racing one hold."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app.models import Blob, LegalHold
from app.states.hold import apply


def test_two_sessions_racing_the_same_hold_cannot_both_win(runtime) -> None:
    with runtime.sessions.begin() as session:
        blob = Blob(key="k", version_id="v", sha256="0" * 64, size=1)
        session.add(blob)
        session.flush()
        session.add(LegalHold(blob_id=blob.id))
    first, second = runtime.sessions(), runtime.sessions()
    hold_a = first.scalars(select(LegalHold)).one()
    hold_b = second.scalars(select(LegalHold)).one()
    apply(hold_a, "confirm_on", detail="S3 answered 200")
    apply(hold_b, "fail", detail="a permanent error")
    first.commit()
    with pytest.raises(StaleDataError):
        second.commit()
    second.rollback()
    with runtime.sessions() as session:
        hold = session.scalars(select(LegalHold)).one()
        assert hold.state == "on"
        assert [h.event for h in hold.history] == ["confirm_on"]
    first.close()
    second.close()


def test_the_check_constraint_refuses_an_unknown_state(runtime) -> None:
    with runtime.sessions.begin() as session:
        blob = Blob(key="k2", version_id="v", sha256="0" * 64, size=1)
        session.add(blob)
    session = runtime.sessions()
    session.add(LegalHold(blob_id=blob.id, state="maybe"))
    with pytest.raises(IntegrityError):
        session.commit()
    session.close()
