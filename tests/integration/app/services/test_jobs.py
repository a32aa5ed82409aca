"""Publish jobs: steps close as their DOIs settle, and the job settles once, even in a race."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
from sqlalchemy import select

from app.models import Doi, Job
from app.services import jobs
from tests.fixtures.pipeline import wait_until
from tests.support.lifecycle import (
    concept,
    create,
    doi_state,
    job_status,
    publish,
    version_doi,
)


def _steps(runtime, job_id: int) -> dict[str, str]:
    with runtime.sessions() as session:
        return {step.name: step.status for step in session.get(Job, job_id).steps}


def test_job_finishes_when_the_concept_needs_no_call(make_pipeline) -> None:
    # DOI_PUBLISH=false and the version repeats the draft metadata: the concept is
    # already right, so no concept call is made, and the job must still finish.
    pipeline = make_pipeline(DOI_PUBLISH="false")
    create(pipeline.runtime, "same", title="Same")
    wait_until(lambda: doi_state(pipeline.runtime, concept("same")) == "draft")
    job = publish(pipeline.runtime, "same", "v1", title="Same")
    wait_until(lambda: job_status(pipeline.runtime, job) == "finished")
    assert _steps(pipeline.runtime, job) == {
        "verify_blobs": "skipped",  # no S3 configured here
        "legal_holds": "skipped",
        "version_doi": "done",
        "concept_doi": "done",
    }


@pytest.mark.parametrize("first", ["version", "concept"])
def test_two_workers_closing_both_steps_at_once_settle_the_job(runtime, monkeypatch, first) -> None:
    # Given a publish job whose version and concept DOIs both just reached findable
    create(runtime, "pair")
    job_id = publish(runtime, "pair", "v1")
    with runtime.sessions.begin() as session:
        for doi in session.scalars(select(Doi)):
            doi.state = doi.target = "findable"
    # When two workers record them at the same moment, each pausing after its reads so
    # the other reads too (the interleaving that used to leave the job open forever)
    both_read = threading.Barrier(2, timeout=1.0)
    original = jobs.settle_job

    def settle_after_the_other_read(job):
        with contextlib.suppress(threading.BrokenBarrierError):
            both_read.wait()  # with the job row locked, the other is blocked: no wait
        original(job)

    monkeypatch.setattr(jobs, "settle_job", settle_after_the_other_read)

    def record(name: str) -> None:
        with runtime.sessions.begin() as session:
            doi = session.scalars(select(Doi).where(Doi.doi == name)).one()
            jobs.on_doi_changed(session, doi, settled=True)

    names = {"version": version_doi("pair", "v1"), "concept": concept("pair")}
    order = [names[first], *(n for k, n in names.items() if k != first)]
    threads = [threading.Thread(target=record, args=(name,)) for name in order]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join(timeout=10)
    # Then whichever came first, the job is finished with both steps done
    assert job_status(runtime, job_id) == "finished"
    assert _steps(runtime, job_id) == {
        "verify_blobs": "skipped",
        "legal_holds": "skipped",
        "version_doi": "done",
        "concept_doi": "done",
    }
