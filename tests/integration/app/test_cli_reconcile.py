"""`doiflow doi reconcile` against the sandbox, with every kind of drift seeded out of band."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from app.cli import main
from app.models import AuditLog
from tests.fixtures.pipeline import wait_until
from tests.fixtures.runtime import doiflow_environment
from tests.support.lifecycle import (
    concept,
    doi_state,
    open_intents,
    version_doi,
)
from tests.support.reconcile import settled


@pytest.fixture
def doi_cli(monkeypatch, clean_database, redis_url, sandbox):
    """Run `doiflow doi …` against this test's database and sandbox; (exit code, stdout)."""
    env = doiflow_environment(clean_database, sandbox.url, REDIS_URL=redis_url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["doi", *args])
        return result.exit_code, result.stdout if result.exit_code != 2 else result.output

    return run


def _seed_drift(control, pipeline) -> dict[str, str]:
    """One DOI per fixable kind changed at DataCite, plus one it has and we do not."""
    changed = {}
    state = version_doi("st", "v1")
    record = control.doi(state)
    control.seed(state, state="registered", attributes=record["attributes"])
    changed["state"] = state
    url = version_doi("ur", "v1")
    record = control.doi(url)
    control.seed(
        url,
        state="findable",
        attributes={**record["attributes"], "url": "https://elsewhere.example.org/x"},
    )
    changed["url"] = url
    meta = version_doi("md", "v1")
    record = control.doi(meta)
    titles = [{"title": "Changed by hand in Fabrica"}]
    control.seed(meta, state="findable", attributes={**record["attributes"], "titles": titles})
    changed["metadata"] = meta
    gone = version_doi("gn", "v1")
    control.remove(gone)
    changed["missing"] = gone
    ghost = concept("ghost")  # our prefix and instance, no row in doiflow
    control.seed(ghost, state="draft", attributes={"url": "https://archive.example.org/g"})
    changed["unknown"] = ghost
    # Another instance's DOI under the same prefix is none of our business.
    control.seed("10.80507/other.x", state="draft", attributes={})
    return changed


def test_reconcile_reports_each_drift_once_fix_converges_and_a_second_run_is_clean(
    make_pipeline, doi_cli, sandbox_control
) -> None:
    # Given four published datasets, settled, and nothing drifting
    pipeline = make_pipeline()
    settled(pipeline, ["st", "ur", "md", "gn", "ok"])
    code, output = doi_cli("reconcile", "--json")
    assert (code, json.loads(output)["drift"]) == (0, [])
    assert json.loads(output)["checked"] == 10

    # When DataCite changes out of band, one DOI per kind
    seeded = _seed_drift(sandbox_control, pipeline)

    # Then each kind is reported exactly once, for its DOI
    code, output = doi_cli("reconcile", "--json")
    report = json.loads(output)
    assert code == 1
    assert sorted((d["kind"], d["doi"]) for d in report["drift"]) == sorted(
        (kind, doi) for kind, doi in seeded.items()
    )
    assert report["counts"] == {"state": 1, "url": 1, "metadata": 1, "missing": 1, "unknown": 1}
    state = next(d for d in report["drift"] if d["kind"] == "state")
    assert (state["ours"], state["theirs"]) == ("findable", "registered")

    # And the table names them too
    code, table = doi_cli("reconcile")
    assert code == 1
    assert seeded["missing"] in table
    assert table.strip().splitlines()[-1].startswith("checked 10 DOI(s): 1 state, 1 url")

    # When --fix runs: four syncs queued (the unknown one is only listed), each audited
    requests_before = len(pipeline.datacite_requests())
    code, output = doi_cli("reconcile", "--fix", "--json")
    fixed = json.loads(output)
    assert (code, fixed["queued"]) == (1, 4)  # the unknown DOI remains: never deleted
    writes_by_fix = [
        r for r in pipeline.datacite_requests()[requests_before:] if r["method"] != "GET"
    ]
    wait_until(lambda: not open_intents(pipeline.runtime), timeout=60)
    with pipeline.runtime.sessions() as session:
        audited = session.scalars(select(AuditLog).where(AuditLog.action == "reconcile_fix"))
        assert sorted(a.target for a in audited) == sorted(
            d for k, d in seeded.items() if k != "unknown"
        )
    # The command itself wrote nothing (each write came from a sync the workers ran)
    assert all(w["doi"] in seeded.values() for w in writes_by_fix)

    # Then DataCite holds what doiflow wants again
    remote = pipeline.remote_dois()
    assert remote[seeded["state"]] == "findable"
    assert remote[seeded["missing"]] == "findable"
    assert pipeline.datacite_document(seeded["url"])["url"] == (
        "https://archive.example.org/datasets/ur/v1"
    )
    titles = pipeline.datacite_document(seeded["metadata"])["titles"]
    assert titles[0]["title"] == "Published title"
    assert doi_state(pipeline.runtime, seeded["state"]) == "findable"

    # And a second run reports only the unknown DOI, left for a person; without it, nothing
    code, output = doi_cli("reconcile", "--json")
    assert [(d["kind"], d["doi"]) for d in json.loads(output)["drift"]] == [
        ("unknown", seeded["unknown"])
    ]
    sandbox_control.remove(seeded["unknown"])
    code, output = doi_cli("reconcile")
    assert code == 0, output
    assert output.strip() == "checked 10 DOI(s): 0 state, 0 url, 0 metadata, 0 missing, 0 unknown"


def test_reconcile_of_one_dataset_reads_only_its_dois(
    make_pipeline, doi_cli, sandbox_control
) -> None:
    pipeline = make_pipeline()
    settled(pipeline, ["one", "two"])
    sandbox_control.remove(version_doi("two", "v1"))
    sandbox_control.clear_requests()

    code, output = doi_cli("reconcile", "--dataset", "one", "--json")
    assert (code, json.loads(output)["checked"]) == (0, 2)
    reads = [(r["method"], r["doi"]) for r in sandbox_control.requests()]
    assert sorted(reads) == sorted([("GET", concept("one")), ("GET", version_doi("one", "v1"))])

    code, output = doi_cli("reconcile", "--dataset", "two", "--json")
    assert code == 1
    assert [d["kind"] for d in json.loads(output)["drift"]] == ["missing"]


def test_reconcile_says_so_when_datacite_fails(doi_cli, sandbox_control) -> None:
    sandbox_control.inject({"method": "GET", "respond": {"status": 503}})
    code, _ = doi_cli("reconcile", "--json")
    assert code == 3
