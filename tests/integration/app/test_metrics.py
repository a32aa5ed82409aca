"""`GET /metrics` after a small scripted workload: parsed by prometheus_client, matched
against the database and the sandbox's request log."""

from __future__ import annotations

from collections import Counter

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from app import create_app
from app.models import Doi, Intent, IntentEvent, LegalHold
from app.services import versions
from tests.fixtures.pipeline import wait_until
from tests.support.holds import uploads
from tests.support.lifecycle import call, create, metadata, open_intents, publish, version_doi

# Every label name doiflow's metrics may carry, and none of them names a DOI or a dataset.
LABELS = {"state", "kind", "status", "topic", "method", "status_class", "outcome", "le"}


def _scrape(client) -> dict[str, list]:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = text_string_to_metric_families(answer.get_data(as_text=True))
    return {family.name: family.samples for family in families}


def _value(samples, name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and s.labels == labels) or 0.0


def _by(samples, name: str, *keys: str) -> dict[tuple[str, ...], float]:
    found: dict[tuple[str, ...], float] = {}
    for sample in samples:
        if sample.name == name:
            key = tuple(sample.labels[k] for k in keys)
            found[key] = found.get(key, 0.0) + sample.value
    return found


def test_metrics_match_the_database_after_a_small_workload(make_pipeline) -> None:
    # Given the web app on a pipeline whose snapshot is taken at every scrape
    pipeline = make_pipeline(ADMIN_SNAPSHOT_SECONDS="0")
    client = create_app(runtime=pipeline.runtime).test_client()
    before = _scrape(client)
    histogram = "doiflow_datacite_request_duration_seconds"
    requests_before = Counter(
        {m: n for (m,), n in _by(before.get(histogram, []), f"{histogram}_count", "method").items()}
    )

    # When three datasets are created, two published, and one version DOI refused
    for name in ("m1", "m2", "m3"):
        create(pipeline.runtime, name)
    wait_until(lambda: not open_intents(pipeline.runtime), timeout=60)
    pipeline.inject({"method": "PUT", "doi": version_doi("m2", "v1"), "respond": {"status": 422}})
    publish(pipeline.runtime, "m1", "v1")
    publish(pipeline.runtime, "m2", "v1")
    wait_until(lambda: not open_intents(pipeline.runtime), timeout=60)
    after = _scrape(client)

    # Then the counts are the database's
    with pipeline.runtime.sessions() as session:
        dois = {
            (state, kind): n
            for state, kind, n in session.execute(
                select(Doi.state, Doi.kind, func.count()).group_by(Doi.state, Doi.kind)
            )
        }
        intents = {
            (status, topic): n
            for status, topic, n in session.execute(
                select(Intent.status, Intent.topic, func.count()).group_by(
                    Intent.status, Intent.topic
                )
            )
        }
        events = list(session.scalars(select(IntentEvent)))
    assert _by(after["doiflow_dois"], "doiflow_dois", "state", "kind") == dois
    assert ("failed", "version") in dois
    assert _by(after["doiflow_intents"], "doiflow_intents", "status", "topic") == intents
    assert _value(after["doiflow_outbox_lag_seconds"], "doiflow_outbox_lag_seconds") == 0
    assert after["doiflow_snapshot_age_seconds"][0].value < 5

    # And the workers' figures: deliveries by outcome, as the intents' timelines tell them
    def delta(outcome: str) -> float:
        name = "doiflow_deliveries_total"
        labels = {"topic": "sync_doi", "outcome": outcome}
        return _value(after["doiflow_deliveries"], name, **labels) - _value(
            before.get("doiflow_deliveries", []), name, **labels
        )

    done = sum(1 for e in events if e.kind == "done" and not e.data)
    assert delta("success") == done > 0
    assert delta("permanent") == sum(1 for e in events if e.kind == "fail") == 1

    # And one DataCite request observed per request the sandbox received, by method
    sent = Counter(r["method"] for r in pipeline.datacite_requests())
    observed = Counter(
        {m: n for (m,), n in _by(after[histogram], f"{histogram}_count", "method").items()}
    )
    observed.subtract(requests_before)
    assert {m: n for m, n in observed.items() if n} == dict(sent)
    classes = _by(after[histogram], f"{histogram}_count", "status_class")
    assert classes[("4xx",)] >= 1

    # And no label of ours names a DOI or a dataset: every value comes from a closed set
    ours = [samples for name, samples in after.items() if name.startswith("doiflow_")]
    assert len(ours) >= 8
    for samples in ours:
        for sample in samples:
            assert set(sample.labels) <= LABELS, sample
            for value in sample.labels.values():
                assert "10.80507" not in value, sample
                assert not any(name in value for name in ("m1", "m2", "m3")), sample


def test_holds_per_state_follow_the_database(make_pipeline, s3_settings, buckets) -> None:
    blobs = uploads(buckets.s3, s3_settings["S3_BUCKET"], 2)
    pipeline = make_pipeline(ADMIN_SNAPSHOT_SECONDS="0", **s3_settings)
    create(pipeline.runtime, "held")
    call(
        pipeline.runtime,
        versions.publish_version,
        "held",
        name="v1",
        metadata=metadata(),
        blobs=blobs,
    )
    wait_until(lambda: not open_intents(pipeline.runtime), timeout=60)
    scraped = _scrape(create_app(runtime=pipeline.runtime).test_client())
    with pipeline.runtime.sessions() as session:
        held = dict(
            session.execute(select(LegalHold.state, func.count()).group_by(LegalHold.state)).all()
        )
    assert held == {"on": 2}
    assert {
        k[0]: v for k, v in _by(scraped["doiflow_holds"], "doiflow_holds", "state").items()
    } == held
