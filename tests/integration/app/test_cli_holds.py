"""`doiflow holds verify | backfill | release` against SeaweedFS, with holds changed out of band."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from app.cli import main
from app.models import AuditLog, LegalHold
from app.services import versions
from tests.fixtures.pipeline import wait_until
from tests.fixtures.runtime import doiflow_environment
from tests.support.holds import hold_states, legal_hold, uploads
from tests.support.lifecycle import call, create, job_status, metadata


@pytest.fixture
def holds_cli(monkeypatch, clean_database, s3_settings):
    """Run `doiflow holds …` with this test's database and bucket; returns (exit code, output)."""
    for name, value in doiflow_environment(clean_database, None, **s3_settings).items():
        monkeypatch.setenv(name, value)

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["holds", *args])
        # stdout only: the log lines go to stderr. A usage error goes to stderr too.
        return result.exit_code, result.stdout if result.exit_code != 2 else result.output

    return run


def _publish(runtime, dataset: str, version: str, blobs: list[dict]) -> int:
    create(runtime, dataset)
    _, job = call(
        runtime, versions.publish_version, dataset, name=version, metadata=metadata(), blobs=blobs
    )
    return int(job.id)


def _set_hold(s3, bucket: str, blob: dict, status: str) -> None:
    target = {"Bucket": bucket, "Key": blob["key"], "VersionId": blob["version_id"]}
    s3.put_object_legal_hold(**target, LegalHold={"Status": status})


def test_verify_finds_holds_changed_out_of_band_and_fix_restores_the_missing_one(
    make_pipeline, holds_cli, s3_settings, buckets
) -> None:
    # Given a published blob and an unpublished one (its version deleted), settled
    bucket, s3 = s3_settings["S3_BUCKET"], buckets.s3
    kept, dropped = uploads(s3, bucket, 2)
    pipeline = make_pipeline(**s3_settings)
    job = _publish(pipeline.runtime, "ds1", "v1", [kept])
    _publish(pipeline.runtime, "ds2", "v1", [dropped])
    wait_until(lambda: job_status(pipeline.runtime, job) == "finished")
    call(pipeline.runtime, versions.delete_version, "ds2", "v1")
    wait_until(
        lambda: hold_states(pipeline.runtime) == {kept["key"]: "on", dropped["key"]: "released"}
    )
    assert holds_cli("verify")[0] == 0

    # When one hold is removed and one added out of band
    _set_hold(s3, bucket, kept, "OFF")
    _set_hold(s3, bucket, dropped, "ON")

    # Then verify reports both, and says problems remain
    code, output = holds_cli("verify", "--json")
    report = json.loads(output)
    assert code == 1
    assert {(p["key"], p["problem"]) for p in report["problems"]} == {
        (kept["key"], "missing_hold"),
        (dropped["key"], "unexpected_hold"),
    }
    assert report["checked"] == 2

    # When --fix runs, the missing hold is queued and restored; the unexpected one stays
    code, output = holds_cli("verify", "--fix")
    assert "1 missing hold(s) queued" in output
    assert code == 1  # the unexpected hold is still there: --fix never removes one
    wait_until(lambda: legal_hold(s3, bucket, kept) == "ON")
    wait_until(lambda: hold_states(pipeline.runtime)[kept["key"]] == "on")
    assert legal_hold(s3, bucket, dropped) == "ON"
    code, output = holds_cli("verify", "--json")
    assert [p["problem"] for p in json.loads(output)["problems"]] == ["unexpected_hold"]


def test_backfill_dry_run_changes_nothing_and_backfill_is_resumable(
    make_pipeline, holds_cli, s3_settings, buckets
) -> None:
    # Given three blobs published while S3 was not configured
    bucket, s3 = s3_settings["S3_BUCKET"], buckets.s3
    blobs = uploads(s3, bucket, 3)
    before = make_pipeline(start=False)
    _publish(before.runtime, "old", "v1", blobs)
    assert hold_states(before.runtime) == {}

    # When backfill runs dry: it counts them and changes nothing
    code, output = holds_cli("backfill", "--dry-run", "--json")
    assert (code, json.loads(output)) == (0, {"dry_run": True, "would_hold": 3})
    assert hold_states(before.runtime) == {}
    assert [legal_hold(s3, bucket, b) for b in blobs] == ["NONE"] * 3

    # When it runs with --limit 2, then again: the second run does only what is left
    code, output = holds_cli("backfill", "--limit", "2", "--rate", "20")
    assert (code, output.strip()) == (0, "2 hold(s) set, 0 error(s)")
    assert sorted(legal_hold(s3, bucket, b) for b in blobs) == ["NONE", "ON", "ON"]
    code, output = holds_cli("backfill", "--json")
    assert json.loads(output)["held"] == 1
    assert [legal_hold(s3, bucket, b) for b in blobs] == ["ON"] * 3
    assert set(hold_states(before.runtime).values()) == {"on"}
    assert json.loads(holds_cli("backfill", "--json")[1])["held"] == 0


def test_release_needs_a_reason_then_releases_audits_and_verify_leaves_it_off(
    make_pipeline, holds_cli, s3_settings, buckets
) -> None:
    bucket, s3 = s3_settings["S3_BUCKET"], buckets.s3
    [blob] = uploads(s3, bucket, 1)
    pipeline = make_pipeline(**s3_settings)
    job = _publish(pipeline.runtime, "ds1", "v1", [blob])
    wait_until(lambda: job_status(pipeline.runtime, job) == "finished")
    pipeline.stop()  # the command does it itself

    # Without --reason: refused, nothing changes
    code, output = holds_cli("release", blob["key"], "--version-id", blob["version_id"])
    assert code == 2
    assert "--reason" in output
    assert legal_hold(s3, bucket, blob) == "ON"

    # With it: the hold is OFF, released in the database, and an audit row says who and why
    code, output = holds_cli(
        "release", blob["key"], "--version-id", blob["version_id"], "--reason", "GDPR erasure"
    )
    assert code == 0, output
    assert "released the hold" in output
    assert legal_hold(s3, bucket, blob) == "OFF"
    with pipeline.runtime.sessions() as session:
        hold = session.scalars(select(LegalHold)).one()
        assert (hold.state, hold.release_reason) == ("released", "GDPR erasure")
        [entry] = session.scalars(select(AuditLog))
        assert (entry.action, entry.reason) == ("release_hold", "GDPR erasure")
        assert entry.actor.startswith("command line (")
        assert entry.data["still_published"] is True

    # And verify does not want it held again
    assert holds_cli("verify")[0] == 0
