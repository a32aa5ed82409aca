"""Chaos, the short run: seeded operations under kills, Redis restarts and DataCite faults.

Runs `python -m ops.chaos` as a subprocess (it starts and removes its own database,
Redis server, sandbox and Procfile processes) with a fixed seed, and expects no
findings. The long run is the same command with more operations (README, "Chaos").
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

SEED = 7
OPERATIONS = 150
CLIENTS = 4
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
RUN_TIMEOUT = 480  # about 2.5 minutes on the 2-core development machine
CLEANUP_TIMEOUT = 60


class ChaosFindingsError(AssertionError):
    """The chaos run completed and reported findings (exit status 1)."""


@pytest.mark.timeout(600)
def test_short_chaos_run_has_no_findings(tmp_path: Path) -> None:
    # Given the chaos harness pointed at the test Postgres server
    admin_url = (
        os.environ.get("CHAOS_POSTGRES_URL")
        or os.environ.get("TEST_POSTGRES_URL")
        or DEFAULT_ADMIN_URL
    )
    argv = [sys.executable, "-m", "ops.chaos", "--operations", str(OPERATIONS)]
    argv += ["--seed", str(SEED), "--clients", str(CLIENTS), "--keep-logs", str(tmp_path)]

    # When the short run plays its operations and its fault schedule
    returncode, stdout, stderr = run_chaos(argv, {**os.environ, "CHAOS_POSTGRES_URL": admin_url})

    # Then it ran to the end (exit 2 is the harness breaking, never a finding)
    if returncode not in (0, 1):
        pytest.fail(f"the chaos run broke (exit {returncode}):\n{stderr[-6000:]}")
    # And it found nothing
    if returncode == 1:
        raise ChaosFindingsError(f"chaos findings (evidence in {tmp_path}):\n{stdout}")


def run_chaos(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run the harness; on a timeout SIGTERM it, so it stops and removes what it started."""
    with subprocess.Popen(
        argv, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=CLEANUP_TIMEOUT)
            pytest.fail(f"the chaos run took over {RUN_TIMEOUT} s:\n{stderr[-6000:]}")
        return process.returncode, stdout, stderr
