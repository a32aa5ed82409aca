"""The dependency rules the code must keep: checked by importing, in fresh interpreters."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

DATACITE_AND_BROKERS = ("app.clients.datacite", "app.clients.remotes", "dramatiq", "workers")


def _loaded_after(statement: str, prefixes: tuple[str, ...]) -> list[str]:
    code = (
        f"import json, sys; {statement}; "
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({prefixes!r}))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return list(json.loads(done.stdout.splitlines()[-1]))


def test_importing_the_cli_loads_neither_workers_nor_ops() -> None:
    assert _loaded_after("import app.cli", ("ops", "workers")) == []


@pytest.mark.parametrize(
    "module", ["app.services.datasets", "app.services.versions", "app.services.doi_policy"]
)
def test_the_services_the_web_calls_load_no_remote_client(module: str) -> None:
    # (requests itself comes with the `datacite` schema package, which calls nothing.)
    remote = (*DATACITE_AND_BROKERS, "app.clients.storage", "boto3")
    assert _loaded_after(f"import {module}", remote) == []


def test_the_api_never_loads_the_datacite_client_or_a_broker() -> None:
    # Only DELETE /api/blobs calls S3 itself, outside any transaction; DataCite never.
    assert _loaded_after("import app.api", DATACITE_AND_BROKERS) == []
