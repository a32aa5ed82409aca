"""The worker entry module refuses a bucket without Object Lock at start-up, saying so."""

from __future__ import annotations

import subprocess
import sys

from tests.fixtures.runtime import doiflow_environment
from tests.fixtures.s3 import Buckets, S3Endpoint


def _start_worker(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Importing the entry module is what `dramatiq workers.worker` does first.
    return subprocess.run(
        [sys.executable, "-c", "import workers.worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_bucket_without_object_lock_stops_the_worker(
    clean_database: str, redis_url: str, s3_endpoint: S3Endpoint, buckets: Buckets
) -> None:
    unlocked = buckets.unlocked(versioned=True)
    env = doiflow_environment(
        clean_database,
        None,
        REDIS_URL=redis_url,
        S3_BUCKET=unlocked,
        S3_ENDPOINT_URL=s3_endpoint.url,
        AWS_ACCESS_KEY_ID=s3_endpoint.access_key,
        AWS_SECRET_ACCESS_KEY=s3_endpoint.secret_key,
    )
    done = _start_worker(env)
    assert done.returncode == 2  # a setting to fix (app.startup.EXIT_CONFIG)
    assert f"doiflow worker: S3_BUCKET {unlocked!r} is refused" in done.stderr
    assert "has no Object Lock" in done.stderr
    assert s3_endpoint.secret_key not in done.stderr + done.stdout


def test_a_locked_bucket_lets_the_worker_start(
    clean_database: str, redis_url: str, s3_settings: dict[str, str]
) -> None:
    env = doiflow_environment(clean_database, None, REDIS_URL=redis_url, **s3_settings)
    done = _start_worker(env)
    assert done.returncode == 0, done.stderr
