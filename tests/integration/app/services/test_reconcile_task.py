"""The `doi.reconcile` topic: the clock's nightly run, as an intent on the doi queue."""

from __future__ import annotations

from sqlalchemy import select

from app.models import Intent, IntentEvent
from app.services import reconcile_task
from tests.fixtures.pipeline import wait_until
from tests.support.lifecycle import open_intents, version_doi
from tests.support.reconcile import settled


def test_the_reconcile_topic_reports_on_its_intent_and_fixes(
    make_pipeline, sandbox_control
) -> None:
    # Given a settled dataset whose version DOI was hidden at DataCite by hand
    pipeline = make_pipeline()
    settled(pipeline, ["nightly"])
    hidden = version_doi("nightly", "v1")
    sandbox_control.seed(
        hidden, state="registered", attributes=sandbox_control.doi(hidden)["attributes"]
    )

    # When the clock's intent runs (as topic doi.reconcile, with fix)
    with pipeline.runtime.sessions.begin() as session:
        intent_id = reconcile_task.schedule(session, fix=True).id

    # Then its timeline has the report, and the DOI is findable again at DataCite
    wait_until(lambda: pipeline.remote_dois()[hidden] == "findable", timeout=60)
    wait_until(lambda: not open_intents(pipeline.runtime), timeout=60)
    with pipeline.runtime.sessions() as session:
        intent = session.get(Intent, intent_id)
        assert (intent.topic, intent.queue, intent.status) == ("doi.reconcile", "doi", "done")
        [event] = [e for e in _events(session, intent_id) if e.kind == "reconciled"]
        assert event.data["counts"]["state"] == 1
        assert event.data["queued"] == 1


def _events(session, intent_id):
    return session.scalars(select(IntentEvent).where(IntentEvent.intent_id == intent_id))
