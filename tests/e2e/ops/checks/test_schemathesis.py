"""`schemathesis run --checks all` against a real web process, bounded (issue 12's Done-when).

`ops.checks.schemathesis` starts gunicorn on a private database and fuzzes every operation
of `/api/openapi.json` with a fixed example budget and seed: no server error, no
undocumented status code, no schema-valid input refused with a 400.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(200)


def test_schemathesis_finds_no_failure_within_its_budget() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ops.checks.schemathesis",
            "--max-examples",
            "15",
            "--timeout",
            "170",
        ],
        capture_output=True,
        text=True,
        timeout=190,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "failures" not in done.stdout.splitlines()[-1], done.stdout[-2000:]
