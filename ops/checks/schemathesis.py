"""The API against its own OpenAPI document: `schemathesis run --checks all`, bounded.

    .venv/bin/python -m ops.checks.schemathesis [--max-examples 20] [--seed 12] [--timeout 150]

Starts a real web process (gunicorn with the Procfile's `app.gunicorn_config`) on a
private, freshly migrated database (dropped at the end), with DataCite and S3
configured (the web path calls neither) and an admin-scope token, seeds one dataset
with a version, then runs schemathesis with a fixed example budget and seed over every
operation but health (a documented 503 while no relay runs). It fails (exit
1) on a server error, an undocumented status code or content type, an answer that does
not match its schema, or a schema-valid input refused with a 400 (`--checks all`).
Exit 0 when every check passed; 2 when schemathesis did not finish within `--timeout`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import requests

from ops.benchmarks.harness import BIN, Bench, free_port, progress, service_env
from ops.benchmarks.stack import create_token

CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED_METADATA = {
    "titles": [{"title": "Seeded"}],
    "creators": [{"name": "Doe, Jane"}],
    "publisher": "Example Archive",
    "publicationYear": "2026",
    "types": {"resourceTypeGeneral": "Dataset"},
}


def seed(base: str, token: str) -> None:
    """One dataset with one version, so lookups by a real id can succeed."""
    headers = {"Authorization": f"Bearer {token}"}
    requests.post(
        f"{base}/api/datasets", json={"id": "seeded"}, headers=headers, timeout=10
    ).raise_for_status()
    blob = {"key": "seeded/1", "version_id": "v1", "sha256": "0" * 64, "size": 1}
    requests.post(
        f"{base}/api/datasets/seeded/versions",
        json={"version": "1.0", "metadata": SEED_METADATA, "blobs": [blob]},
        headers=headers,
        timeout=10,
    ).raise_for_status()


def run(max_examples: int, seed_value: int, timeout: float) -> int:
    """Start the server, run schemathesis, stop everything; schemathesis' exit status."""
    with Bench("schemathesis") as bench:
        env = service_env(
            {
                "DATABASE_URL": bench.database(),
                "DATACITE_API_URL": "http://127.0.0.1:9",  # never called by the web path
                "DATACITE_USER": "REPO.CHECK",
                "DATACITE_PASSWORD": "unused",
                "DATACITE_PREFIX": "10.80507",
                "DOI_PUBLISH": "true",
                "S3_BUCKET": "check-bucket",
                "ADMIN_ENABLED": "false",
                "LOG_LEVEL": "WARNING",
            }
        )
        token = create_token(env, "read,write,operator,admin")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        # As the Procfile's web line starts it: its limits and its JSON error worker.
        web = [str(BIN / "gunicorn"), "app:create_app()", "--config", "python:app.gunicorn_config"]
        web += ["--no-control-socket", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
        process = bench.start("web", web, {**env, "PORT": str(port)})
        process.wait_for(lambda: requests.get(f"{base}/healthz", timeout=1).ok, 60, "/healthz")
        seed(base, token)
        argv = [
            str(BIN / "schemathesis"),
            "--config-file",
            str(CONFIG),
            "run",
            f"{base}/api/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            str(max_examples),
            "--seed",
            str(seed_value),
            "--header",
            f"Authorization: Bearer {token}",
            "--request-timeout",
            "10",
            "--workers",
            "1",
            # Postgres stores neither NUL nor lone surrogates: refused with a 400 by design.
            "--generation-allow-x00",
            "false",
            "--generation-codec",
            "utf-8",
            # A documented 503 while no relay runs (health is tested in the integration ring).
            "--exclude-operation-id",
            "api.health",
            # The DOI pattern filters many generated strings; that is no failure of the API.
            "--suppress-health-check",
            "filter_too_much",
            "--no-color",
        ]
        progress(f"schemathesis: {max_examples} examples per operation, seed {seed_value}")
        try:
            # In the bench's temp dir: schemathesis keeps a cache in its working directory.
            done = subprocess.run(argv, cwd=bench.tmp, timeout=timeout, check=False)  # noqa: S603
        except subprocess.TimeoutExpired:
            progress(f"schemathesis did not finish within {timeout:g} s")
            return 2
    return done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=20)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--timeout", type=float, default=150.0)
    args = parser.parse_args()
    sys.exit(run(args.max_examples, args.seed, args.timeout))


if __name__ == "__main__":
    main()
