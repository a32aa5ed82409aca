"""`doiflow doi check` (one test per problem kind) and `doiflow doi remediate`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import func, select, update

from app import watchdog
from app.cli import main
from app.db import utcnow
from app.models import Doi, Intent
from app.runtime import Runtime
from app.states.doi import apply
from tests.fixtures.pipeline import Pipeline, wait_until
from tests.fixtures.runtime import doiflow_environment
from tests.support.lifecycle import concept, create, doi_state, open_intents, publish, version_doi

Run = Callable[..., tuple[int, Any]]


@pytest.fixture
def doi_cli(monkeypatch, clean_database, sandbox) -> Run:
    """Run `doiflow doi …` against this test's database; returns (exit code, output or JSON)."""

    def run(*args: str, datacite: bool = True, **overrides: str) -> tuple[int, Any]:
        env = doiflow_environment(clean_database, sandbox.url if datacite else None, **overrides)
        for name in ("DATACITE_API_URL", "DATACITE_USER", "DATACITE_PASSWORD", "DATACITE_PREFIX"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        result = CliRunner().invoke(main, ["doi", *args])
        out = result.stdout if result.exit_code != 2 else result.output
        return result.exit_code, json.loads(out) if "--json" in args else out

    return run


def _checks(answer: dict[str, Any]) -> list[str]:
    return [p["check"] for p in answer["problems"]]


def _settled(pipeline: Pipeline) -> None:
    wait_until(lambda: not open_intents(pipeline.runtime), timeout=30)


# doi check: a healthy system, then one test per kind of problem


def test_check_is_zero_on_a_healthy_system(make_pipeline, doi_cli: Run) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "ds1")
    publish(pipeline.runtime, "ds1", "v1")
    wait_until(lambda: doi_state(pipeline.runtime, concept("ds1")) == "findable")
    _settled(pipeline)
    code, answer = doi_cli("check", "--json")
    assert (code, answer["status"], answer["problems"]) == (0, "ok", [])
    assert answer["checks"]["datacite"] == "ok"
    code, text = doi_cli("check")
    assert code == 0
    assert text.splitlines()[-1] == "0 problem(s), 1 warning(s)"  # no S3 in this test


def test_check_names_failed_dois(runtime: Runtime, doi_cli: Run) -> None:
    create(runtime, "ds1")
    with runtime.sessions.begin() as session:
        apply(session.scalars(select(Doi)).one(), "fail", publishing_allowed=True, detail="422")
        session.execute(update(Intent).values(status="failed"))
    code, answer = doi_cli("check", "--json")
    assert (code, _checks(answer)) == (1, ["failed_dois"])


def test_check_names_dois_short_of_their_target_for_too_long(
    runtime: Runtime, doi_cli: Run
) -> None:
    # Given a concept DOI still pending two hours after it was made, nothing moving it
    create(runtime, "ds1")
    two_hours_ago = utcnow() - timedelta(hours=2)
    with runtime.sessions.begin() as session:
        session.execute(update(Intent).values(status="done"))
        session.execute(update(Doi).values(created_at=two_hours_ago, updated_at=two_hours_ago))
    code, answer = doi_cli("check", "--json")
    assert (code, _checks(answer)) == (1, ["dois_behind_target"])
    assert answer["checks"]["dois_behind_target"] == 1
    # A DOI with a sync queued a moment ago is not behind: it is being moved
    with runtime.sessions.begin() as session:
        session.execute(update(Intent).values(status="pending", available_at=utcnow()))
        watchdog.beat(session, "relay:test", kind="relay")
    code, answer = doi_cli("check", "--json")
    assert (code, _checks(answer)) == (0, [])


def test_check_names_public_datasets_without_a_concept_doi(
    make_runtime: Callable[..., Runtime], doi_cli: Run
) -> None:
    # Given a public dataset made while DataCite was not configured, and an embargoed one
    unconfigured = make_runtime(datacite=False)
    create(unconfigured, "early")
    create(unconfigured, "secret", embargoed=True)
    code, answer = doi_cli("check", "--json")
    assert (code, _checks(answer)) == (1, ["public_datasets_without_concept_doi"])
    assert answer["checks"]["public_datasets_without_concept_doi"] == 1
    # Without DataCite configured that is how it should be: a warning, nothing to do now
    code, answer = doi_cli("check", "--json", datacite=False)
    assert (code, _checks(answer)) == (0, [])
    assert "datacite_not_configured" in [w["check"] for w in answer["warnings"]]


def test_check_names_published_versions_without_a_doi(
    make_runtime: Callable[..., Runtime], doi_cli: Run
) -> None:
    # Given a dataset with its concept DOI whose version was published with DataCite off
    configured = make_runtime()
    create(configured, "ds1")
    with configured.sessions.begin() as session:
        session.execute(update(Intent).values(status="done"))
        session.execute(update(Doi).values(state="draft"))
    publish(make_runtime(datacite=False), "ds1", "v1")
    code, answer = doi_cli("check", "--json")
    assert (code, _checks(answer)) == (1, ["versions_without_doi"])


def test_check_names_drafts_waiting_once_publishing_is_on(make_pipeline, doi_cli: Run) -> None:
    # Given a version published while DOI_PUBLISH was false: its DOI is a draft
    pipeline = make_pipeline(DOI_PUBLISH="false")
    create(pipeline.runtime, "ds1")
    publish(pipeline.runtime, "ds1", "v1")
    wait_until(lambda: doi_state(pipeline.runtime, version_doi("ds1", "v1")) == "draft")
    _settled(pipeline)
    # While publishing is off that is the configuration's doing: a warning
    code, answer = doi_cli("check", "--json", DOI_PUBLISH="false")
    assert (code, _checks(answer)) == (0, [])
    assert "drafts_waiting_for_publish" in [w["check"] for w in answer["warnings"]]
    # Once it is on, the draft waits for a person to run remediate
    code, answer = doi_cli("check", "--json", DOI_PUBLISH="true")
    assert (code, _checks(answer)) == (1, ["drafts_waiting_for_publish"])
    assert "doiflow doi remediate" in answer["problems"][0]["message"]


def test_check_names_outbox_lag(runtime: Runtime, doi_cli: Run) -> None:
    with runtime.sessions.begin() as session:
        watchdog.beat(session, "relay:test", kind="relay")
        session.add(
            Intent(
                topic="sync_doi",
                queue="doi",
                key="doi:1",
                available_at=utcnow() - timedelta(minutes=10),
            )
        )
    code, answer = doi_cli("check", "--json")
    assert (code, _checks(answer)) == (1, ["outbox_lag"])


def test_check_names_silent_workers_while_work_is_due(runtime: Runtime, doi_cli: Run) -> None:
    with runtime.sessions.begin() as session:
        session.add(
            Intent(topic="sync_doi", queue="doi", key="doi:1", status="enqueued", lease_token="t")
        )
    code, answer = doi_cli("check", "--json", HEALTH_SILENT_SECONDS="0")
    assert (code, _checks(answer)) == (1, ["workers_silent"])


def test_check_names_a_clock_that_stopped_ticking(runtime: Runtime, doi_cli: Run) -> None:
    # A deployment that never ran a clock is not told off; one whose clocks all died is
    assert doi_cli("check", "--json")[0] == 0
    with runtime.sessions.begin() as session:
        watchdog.beat(session, "clock:old", kind="clock", now=utcnow() - timedelta(minutes=10))
    code, answer = doi_cli("check", "--json")
    assert (code, _checks(answer)) == (1, ["clock_silent"])
    assert "doiflow clock" in answer["problems"][0]["message"]


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        ({"DATACITE_PASSWORD": "not-the-password"}, "refused"),
        ({"DATACITE_API_URL": "http://127.0.0.1:9"}, "unreachable"),
    ],
)
def test_check_names_datacite_refusing_or_unreachable(
    runtime: Runtime, doi_cli: Run, overrides: dict[str, str], said: str
) -> None:
    code, answer = doi_cli("check", "--json", **overrides)
    assert (code, _checks(answer)) == (1, ["datacite"])
    assert answer["checks"]["datacite"].startswith(said)
    assert "not-the-password" not in json.dumps(answer)


def test_check_names_an_unreachable_database_without_its_address(doi_cli: Run) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    code, answer = doi_cli("check", "--json", DATABASE_URL=url)
    assert (code, _checks(answer)) == (1, ["database"])
    assert "127.0.0.1:1" not in json.dumps(answer)


# doi remediate


def _intent_count(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Intent)) or 0)


def _drafts_made_with_publishing_off(make_pipeline) -> Pipeline:
    """ds1 (two versions) and ds2 published with DOI_PUBLISH=false, secret embargoed; settled."""
    pipeline = make_pipeline(DOI_PUBLISH="false")
    runtime = pipeline.runtime
    for dataset in ("ds1", "ds2"):
        create(runtime, dataset)
        publish(runtime, dataset, "v1")
    publish(runtime, "ds1", "v2")
    create(runtime, "secret", embargoed=True)
    publish(runtime, "secret", "v1")
    wait_until(lambda: doi_state(runtime, version_doi("ds1", "v2")) == "draft")
    _settled(pipeline)
    pipeline.stop()
    return pipeline


def test_a_dry_run_prints_the_plan_and_changes_nothing(make_pipeline, doi_cli: Run) -> None:
    pipeline = _drafts_made_with_publishing_off(make_pipeline)
    requests.delete(f"{pipeline.sandbox_url}/__sandbox/requests", timeout=5)
    intents_before = _intent_count(pipeline.runtime)
    code, text = doi_cli("remediate", "--dry-run", DOI_PUBLISH="true")
    assert code == 0
    lines = text.splitlines()
    assert lines[-1] == "dry run: 3 step(s) planned (3 promote); nothing changed"
    assert [line.split()[:2] for line in lines[:-1]] == [
        ["promote", "ds1"],
        ["promote", "ds2"],
        ["promote", "ds1"],
    ]
    code, plan = doi_cli("remediate", "--dry-run", "--json", "--dataset", "ds2", DOI_PUBLISH="true")
    assert (code, plan["planned"], plan["steps"][0]["doi"]) == (0, 1, version_doi("ds2", "v1"))
    # No intent, no DataCite call
    assert _intent_count(pipeline.runtime) == intents_before
    assert pipeline.datacite_requests() == []


def test_switching_publishing_on_then_remediating_promotes_every_waiting_draft(
    make_pipeline, doi_cli: Run
) -> None:
    first = _drafts_made_with_publishing_off(make_pipeline)
    # When DOI_PUBLISH is switched on and remediate runs, two at a time
    code, text = doi_cli("remediate", "--limit", "2", "--delay", "0.01", DOI_PUBLISH="true")
    assert (code, text.splitlines()[-1]) == (0, "2 of 2 step(s) taken (2 promote); 0 skipped")
    code, summary = doi_cli("remediate", "--json", DOI_PUBLISH="true")
    assert (code, summary["applied"], summary["skipped"]) == (0, 1, [])
    # Then the workers make every version DOI and every concept findable
    pipeline = make_pipeline(DOI_PUBLISH="true")
    runtime = pipeline.runtime
    for doi in (version_doi("ds1", "v1"), version_doi("ds1", "v2"), version_doi("ds2", "v1")):
        wait_until(lambda doi=doi: doi_state(runtime, doi) == "findable")
    for dataset in ("ds1", "ds2"):
        wait_until(lambda dataset=dataset: doi_state(runtime, concept(dataset)) == "findable")
    _settled(pipeline)
    held = pipeline.remote_dois()
    assert set(held.values()) == {"findable"}
    # And the embargoed dataset got nothing: no DOI row, nothing sent
    assert not any("secret" in doi for doi in held)
    assert not any("secret" in (r.get("doi") or "") for r in first.datacite_requests())
    assert doi_state(runtime, concept("secret")) is None
    # A second run finds nothing left to do
    code, text = doi_cli("remediate", DOI_PUBLISH="true")
    assert (code, text.splitlines()[-1]) == (0, "0 of 0 step(s) taken (nothing to do); 0 skipped")


def test_missing_dois_are_created_once_datacite_is_configured_never_for_embargoed(
    make_runtime: Callable[..., Runtime], make_pipeline, doi_cli: Run
) -> None:
    # Given datasets made while DataCite was not configured: public, and embargoed
    unconfigured = make_runtime(datacite=False)
    for dataset, embargoed in (("early", False), ("secret", True)):
        create(unconfigured, dataset, embargoed=embargoed)
        publish(unconfigured, dataset, "v1")
    code, plan = doi_cli("remediate", "--dry-run", "--json")
    assert code == 0
    assert [(s["kind"], s["dataset"]) for s in plan["steps"]] == [
        ("create_concept", "early"),
        ("create_version_doi", "early"),
    ]
    # When remediate runs with DataCite configured
    assert doi_cli("remediate")[0] == 0
    pipeline = make_pipeline()
    wait_until(lambda: doi_state(pipeline.runtime, version_doi("early", "v1")) == "findable")
    wait_until(lambda: doi_state(pipeline.runtime, concept("early")) == "findable")
    _settled(pipeline)
    # Then the embargoed dataset's metadata never left: no DOI, no request naming it
    assert sorted(pipeline.remote_dois()) == [concept("early"), version_doi("early", "v1")]
    assert not any("secret" in (r.get("doi") or "") for r in pipeline.datacite_requests())


def test_failed_dois_are_re_driven_only_when_asked_and_matching(
    runtime: Runtime, doi_cli: Run
) -> None:
    for dataset, error in (("ds1", "422 Unprocessable"), ("ds2", "500 server error")):
        create(runtime, dataset)
        with runtime.sessions.begin() as session:
            doi = session.scalars(select(Doi).where(Doi.dataset_id == dataset)).one()
            apply(doi, "fail", publishing_allowed=True, detail=error)
            doi.last_error = error
            session.execute(
                update(Intent).where(Intent.key == f"doi:{doi.id}").values(status="failed")
            )
    # Without --state failed, failed DOIs are left for a person
    assert doi_cli("remediate", "--json")[1]["planned"] == 0
    code, summary = doi_cli("remediate", "--json", "--state", "failed", "--error-like", "422")
    assert (code, summary["counts"]["redrive"], summary["applied"]) == (0, 1, 1)
    assert doi_state(runtime, concept("ds1")) == "pending"
    assert doi_state(runtime, concept("ds2")) == "failed"
    # --error-like alone is a usage error
    assert doi_cli("remediate", "--error-like", "422")[0] == 2


def test_remediate_refuses_without_datacite(doi_cli: Run) -> None:
    code, text = doi_cli("remediate", datacite=False)
    assert code == 2
    assert "DataCite is not configured" in text
