"""A worker's remotes: one S3 client shared by its threads, against SeaweedFS."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from app.clients.remotes import Remotes
from app.config import load_settings
from tests.fixtures.s3 import Buckets, S3Endpoint

pytestmark = pytest.mark.integration


def test_every_worker_thread_uses_one_s3_client_and_every_call_lands(
    s3_endpoint: S3Endpoint, locked_bucket: str, buckets: Buckets
) -> None:
    # Given twenty object versions and a worker's remotes allowing 8 S3 calls at once
    s3 = buckets.s3
    keys = [f"shared/{n:02d}.csv" for n in range(20)]
    versions = [s3.put_object(Bucket=locked_bucket, Key=k, Body=b"x")["VersionId"] for k in keys]
    settings = load_settings(
        {
            "DATABASE_URL": "sqlite://",  # not used: no database in this test
            "S3_BUCKET": locked_bucket,
            "S3_ENDPOINT_URL": s3_endpoint.url,
            "AWS_ACCESS_KEY_ID": s3_endpoint.access_key,
            "AWS_SECRET_ACCESS_KEY": s3_endpoint.secret_key,
            "AWS_REGION": s3_endpoint.region,
            "HOLD_CONCURRENCY": "8",
        }
    )
    remotes = Remotes(settings)

    # When 8 threads set the holds, each through the remotes as a delivery does
    def hold(n: int) -> int:
        storage = remotes.storage
        assert storage is not None
        storage.put_hold(keys[n], versions[n], on=True)
        return id(storage)

    with ThreadPoolExecutor(8) as pool:
        clients = set(pool.map(hold, range(len(keys))))
    try:
        # Then one client made every call, and S3 holds every version
        assert len(clients) == 1
        held = [
            s3.get_object_legal_hold(Bucket=locked_bucket, Key=k, VersionId=v)["LegalHold"]
            for k, v in zip(keys, versions, strict=True)
        ]
        assert [h["Status"] for h in held] == ["ON"] * len(keys)
    finally:
        for key, version in zip(keys, versions, strict=True):
            s3.put_object_legal_hold(
                Bucket=locked_bucket, Key=key, VersionId=version, LegalHold={"Status": "OFF"}
            )
        remotes.close()
