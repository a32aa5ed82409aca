"""The stash before every DELETE or hide (DESIGN "Stash"), against the sandbox: both sides."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import select

from app.db import utcnow
from app.models import Doi, Intent, IntentEvent, Stash
from app.services import datasets, stash, versions
from tests.fixtures.pipeline import wait_until
from tests.support.lifecycle import (
    call,
    concept,
    count_rows,
    create,
    doi_state,
    open_intents,
    publish,
    version_doi,
)


def stashes_of(runtime, doi: str) -> list[Stash]:
    """The DOI's stash rows, oldest first."""
    with runtime.sessions() as session:
        query = select(Stash).join(Doi, Doi.id == Stash.doi_id).where(Doi.doi == doi)
        return list(session.scalars(query.order_by(Stash.id)))


def requests_for(pipeline, doi: str) -> list[dict]:
    return [r for r in pipeline.datacite_requests() if r["doi"] == doi]


def test_a_draft_is_stashed_and_committed_before_its_delete(make_pipeline) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "gone", title="Kept before the delete")
    wait_until(lambda: doi_state(pipeline.runtime, concept("gone")) == "draft")
    before = pipeline.datacite_document(concept("gone"))
    call(pipeline.runtime, datasets.delete_dataset, "gone")
    wait_until(lambda: doi_state(pipeline.runtime, concept("gone")) == "deleted")
    [row] = stashes_of(pipeline.runtime, concept("gone"))
    assert (row.action, row.found, row.remote_state) == ("delete", True, "draft")
    assert json.loads(row.content or "") == before  # the attributes as DataCite returned them
    # Committed before the DELETE left: the sandbox saw the DELETE after the stash's commit.
    [deleted] = [r for r in requests_for(pipeline, concept("gone")) if r["method"] == "DELETE"]
    assert datetime.fromisoformat(deleted["time"]) > row.taken_at
    assert row.expires_at - row.taken_at == timedelta(days=30)
    assert pipeline.remote_dois() == {}
    # One intent did both steps: the stash (a `continue`, no attempt spent) then the call.
    with pipeline.runtime.sessions() as session:
        kinds = list(
            session.scalars(
                select(IntentEvent.kind)
                .where(IntentEvent.intent_id == row.intent_id)
                .order_by(IntentEvent.id)
            )
        )
        assert session.get(Intent, row.intent_id).attempts == 1
    steps = [kind for kind in kinds if kind != "claimed"]  # the relay's claims
    assert steps == ["started", "call", "continue", "started", "call", "done"]


def test_hides_are_stashed_first(make_pipeline) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "shown")
    publish(pipeline.runtime, "shown", "v1")
    wait_until(lambda: doi_state(pipeline.runtime, concept("shown")) == "findable")
    wait_until(lambda: open_intents(pipeline.runtime) == [])
    call(pipeline.runtime, versions.delete_version, "shown", "v1")
    wait_until(lambda: doi_state(pipeline.runtime, version_doi("shown", "v1")) == "registered")
    wait_until(lambda: doi_state(pipeline.runtime, concept("shown")) == "registered")
    for doi in (version_doi("shown", "v1"), concept("shown")):
        [row] = stashes_of(pipeline.runtime, doi)
        assert (row.action, row.found, row.remote_state) == ("hide", True, "findable")
        calls = [(r["method"], r.get("event")) for r in requests_for(pipeline, doi)]
        # The stash's GET comes right before the hide.
        assert calls[-2:] == [("GET", None), ("PUT", "hide")]


def test_a_delete_answered_by_a_timeout_after_commit_leaves_one_stash_and_ends_deleted(
    make_pipeline,
) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "lost")
    wait_until(lambda: doi_state(pipeline.runtime, concept("lost")) == "draft")
    pipeline.inject(
        {"method": "DELETE", "times": 1, "action": "timeout_after_commit", "seconds": 3}
    )
    call(pipeline.runtime, datasets.delete_dataset, "lost")
    wait_until(lambda: doi_state(pipeline.runtime, concept("lost")) == "deleted")
    wait_until(lambda: open_intents(pipeline.runtime) == [])
    assert len(stashes_of(pipeline.runtime, concept("lost"))) == 1
    methods = [r["method"] for r in requests_for(pipeline, concept("lost"))]
    assert methods.count("DELETE") == 1  # the lost answer was confirmed by a look
    assert pipeline.remote_dois() == {}


def test_a_hide_answered_by_a_timeout_after_commit_leaves_one_stash(make_pipeline) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "slow")
    publish(pipeline.runtime, "slow", "v1")
    wait_until(lambda: doi_state(pipeline.runtime, concept("slow")) == "findable")
    wait_until(lambda: open_intents(pipeline.runtime) == [])
    target = version_doi("slow", "v1")
    pipeline.inject(
        {"method": "PUT", "doi": target, "times": 1, "action": "timeout_after_commit", "seconds": 3}
    )
    call(pipeline.runtime, versions.delete_version, "slow", "v1")
    wait_until(lambda: doi_state(pipeline.runtime, target) == "registered")
    wait_until(lambda: open_intents(pipeline.runtime) == [])
    assert len(stashes_of(pipeline.runtime, target)) == 1
    assert pipeline.remote_dois()[target] == "registered"


def test_a_failing_stash_read_holds_the_delete_back_until_it_succeeds(make_pipeline) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "wait")
    wait_until(lambda: doi_state(pipeline.runtime, concept("wait")) == "draft")
    pipeline.inject({"method": "GET", "times": 2, "respond": {"status": 503}})
    call(pipeline.runtime, datasets.delete_dataset, "wait")
    wait_until(lambda: doi_state(pipeline.runtime, concept("wait")) == "deleted")
    calls = [(r["method"], r["status"]) for r in requests_for(pipeline, concept("wait"))]
    # Two failed reads, then the read that is stashed, and only then the DELETE.
    assert calls[-4:] == [("GET", 503), ("GET", 503), ("GET", 200), ("DELETE", 204)]
    [row] = stashes_of(pipeline.runtime, concept("wait"))
    assert row.found


def test_a_404_on_the_stash_read_is_recorded_as_nothing_remote(make_pipeline) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "ghost")
    wait_until(lambda: doi_state(pipeline.runtime, concept("ghost")) == "draft")
    body = '{"errors":[{"status":"404","title":"Not found"}]}'
    pipeline.inject({"method": "GET", "times": 1, "respond": {"status": 404, "body": body}})
    call(pipeline.runtime, datasets.delete_dataset, "ghost")
    wait_until(lambda: doi_state(pipeline.runtime, concept("ghost")) == "deleted")
    [row] = stashes_of(pipeline.runtime, concept("ghost"))
    assert (row.found, row.content, row.remote_state) == (False, None, None)


def test_embargoed_datasets_never_create_a_stash(make_pipeline) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "secret", embargoed=True)
    publish(pipeline.runtime, "secret", "v1")
    call(pipeline.runtime, versions.delete_version, "secret", "v1")
    call(pipeline.runtime, datasets.delete_dataset, "secret")
    wait_until(lambda: open_intents(pipeline.runtime) == [])
    assert count_rows(pipeline.runtime, Stash) == 0
    assert pipeline.datacite_requests() == []  # its metadata never left doiflow


def test_prune_expired_deletes_exactly_the_expired_stashes(make_pipeline) -> None:
    pipeline = make_pipeline()
    for name in ("old", "new"):
        create(pipeline.runtime, name)
        wait_until(lambda name=name: doi_state(pipeline.runtime, concept(name)) == "draft")
        call(pipeline.runtime, datasets.delete_dataset, name)
        wait_until(lambda name=name: doi_state(pipeline.runtime, concept(name)) == "deleted")
    [old], [new] = (
        stashes_of(pipeline.runtime, concept("old")),
        stashes_of(pipeline.runtime, concept("new")),
    )
    with pipeline.runtime.sessions.begin() as session:
        session.get(Stash, old.id).expires_at = utcnow() - timedelta(seconds=1)
    with pipeline.runtime.sessions.begin() as session:
        assert stash.prune_expired(session, now=utcnow()) == 1
    assert stashes_of(pipeline.runtime, concept("old")) == []
    assert [s.id for s in stashes_of(pipeline.runtime, concept("new"))] == [new.id]
    with pipeline.runtime.sessions.begin() as session:
        assert stash.prune_expired(session, now=new.expires_at) == 1
    assert count_rows(pipeline.runtime, Stash) == 0
