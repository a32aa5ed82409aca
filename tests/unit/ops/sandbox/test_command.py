"""`doiflow sandbox` serves until stopped, prints its URL and never the password."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from click.testing import CliRunner

from ops.sandbox.command import sandbox as sandbox_command
from tests.fixtures.sandbox import doi_payload

LAUNCH = "from ops.sandbox.command import sandbox; sandbox()"


@contextmanager
def running(*args: str, env: dict | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    process = subprocess.Popen(
        [sys.executable, "-u", "-c", LAUNCH, "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        first_line = process.stdout.readline()
        match = re.search(r"http://[\d.]+:\d+", first_line)
        assert match, first_line
        yield match.group(0), process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        process.stdout.close()


def test_command_serves_with_the_given_account_and_prefix():
    with running("--user", "MY.REPO", "--password", "hunter2", "--prefix", "10.5555") as (url, _):
        created = requests.put(
            f"{url}/dois/10.5555/cli", json=doi_payload(), auth=("my.repo", "hunter2"), timeout=5
        )
        foreign = requests.put(
            f"{url}/dois/10.80507/cli", json=doi_payload(), auth=("my.repo", "hunter2"), timeout=5
        )

    assert (created.status_code, foreign.status_code) == (201, 403)


def test_command_stops_on_sigterm_without_printing_the_password():
    with running("--password", "hunter2") as (url, process):
        assert requests.get(f"{url}/heartbeat", timeout=5).status_code == 200
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)

    assert process.returncode == 0
    assert "hunter2" not in output
    assert "stopped" in output


def test_command_takes_the_password_from_the_environment():
    with running(env={"DATACITE_PASSWORD": "from-env"}) as (url, _):
        response = requests.put(
            f"{url}/dois/10.80507/env", json=doi_payload(), auth=("REPO.ID", "from-env"), timeout=5
        )

    assert response.status_code == 201


def test_command_applies_the_rate_limit_flag():
    with running("--rate-limit", "1/300s") as (url, _):
        statuses = [requests.get(f"{url}/heartbeat", timeout=5).status_code for _ in range(2)]

    assert statuses == [200, 429]


def test_command_refuses_a_malformed_rate_limit():
    result = CliRunner().invoke(sandbox_command, ["--rate-limit", "lots"])

    assert result.exit_code == 2
    assert "750/300s" in result.output


def test_command_keeps_dois_in_the_state_file_across_restarts(tmp_path):
    state = str(tmp_path / "sandbox.json")
    auth = ("REPO.ID", "secret")
    with running("--state", state) as (url, _):
        created = requests.put(
            f"{url}/dois/10.80507/kept", json=doi_payload(), auth=auth, timeout=5
        )

    with running("--state", state) as (url, _):
        shown = requests.get(f"{url}/dois/10.80507/kept", auth=auth, timeout=5)

    assert (created.status_code, shown.status_code) == (201, 200)


def test_command_refuses_an_unreadable_state_file(tmp_path):
    state = tmp_path / "sandbox.json"
    state.write_text("garbage")

    result = CliRunner().invoke(sandbox_command, ["--state", str(state)])

    assert result.exit_code == 1
    assert "sandbox.json" in result.output
