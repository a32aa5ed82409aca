"""Publishing with legal holds over real processes: web, relay, doi- and hold-worker, SeaweedFS."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import KERNEL4, Stack, version_doi
from tests.e2e.harness import json_of, wait_until
from tests.fixtures.s3 import Buckets, S3Endpoint
from tests.support.holds import legal_hold, uploads


@pytest.fixture(scope="module")
def module_buckets(s3_endpoint: S3Endpoint) -> Iterator[Buckets]:
    made = Buckets(s3_endpoint)
    yield made
    made.remove_all()


@pytest.fixture(scope="module")
def hold_bucket(module_buckets: Buckets) -> str:
    return module_buckets.locked()


@pytest.fixture(scope="module")
def e2e_overrides(s3_endpoint: S3Endpoint, hold_bucket: str) -> dict[str, str]:
    """Publishing on, and every process pointed at an Object Lock bucket of this module's."""
    return {
        "DOI_PUBLISH": "true",
        "S3_BUCKET": hold_bucket,
        "S3_ENDPOINT_URL": s3_endpoint.url,
        "AWS_ACCESS_KEY_ID": s3_endpoint.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_endpoint.secret_key,
        "AWS_REGION": s3_endpoint.region,
        "HOLD_BATCH_SIZE": "2",
    }


def test_a_version_doi_is_findable_only_after_the_hold_worker_held_its_blobs(
    stack: Stack, module_buckets: Buckets, hold_bucket: str
) -> None:
    # Given the Procfile's processes, the hold-worker the only consumer of `holds`
    stack.start_relay()
    stack.start_worker()
    s3 = module_buckets.s3
    blobs = uploads(s3, hold_bucket, 5, prefix="e2e")
    api = stack.api
    api.create_dataset("held")

    # When a version of five blobs is published through the API
    published = json_of(
        api.call(
            "POST",
            "/api/datasets/held/versions",
            json={"version": "1.0", "metadata": KERNEL4, "blobs": blobs},
        ),
        202,
    )
    doi = version_doi("held", "1.0")

    # Then nothing is held and the DOI waits while no hold-worker runs
    job_url = f"/api/jobs/{published['job']['id']}"
    assert json_of(api.call("GET", job_url), 200)["steps"][0]["status"] == "in_progress"
    assert api.doi(doi)["state"] == "pending"
    assert stack.sandbox.state_of(doi) is None

    # When the hold-worker starts, every blob is held, then the DOI becomes findable
    stack.start_hold_worker()
    api.wait_for_state(doi, "findable", timeout=30)
    assert [legal_hold(s3, hold_bucket, b) for b in blobs] == ["ON"] * 5
    job = wait_until(
        lambda: (j := json_of(api.call("GET", job_url), 200))["status"] == "finished" and j,
        15,
        "the job to finish",
    )
    assert [(s["name"], s["status"], s["done"]) for s in job["steps"]] == [
        ("verify_blobs", "done", 5),
        ("legal_holds", "done", 5),
        ("version_doi", "done", 1),
        ("concept_doi", "done", 1),
    ]
    assert api.dataset("held")["versions"][0]["holds"] == {"on": 5, "total": 5}
    # And the doi-worker made no S3 call but its start-up check of the bucket (two
    # requests); the hold-worker made the rest: a HEAD and a PUT per blob, and the
    # bucket checks (at start-up, and once before its first hold)
    assert _s3_operations(stack.harness["worker"].log_text()) == {
        "GetObjectLockConfiguration": 1,
        "GetBucketVersioning": 1,
    }
    assert _s3_operations(stack.harness["hold-worker"].log_text()) == {
        "GetObjectLockConfiguration": 2,
        "GetBucketVersioning": 2,
        "HeadObject": 5,
        "PutObjectLegalHold": 5,
    }


def _s3_operations(log: str) -> dict[str, int]:
    """How many S3 requests of each operation a process logged (its JSON lines)."""
    lines = [line for line in log.splitlines() if line.startswith('{"event": "s3 request"')]
    return dict(Counter(json.loads(line)["operation"] for line in lines))
