"""Every process checks its settings and services before it says it started (app.startup).

Real processes, as the Procfile starts them: gunicorn with `app.gunicorn_config`,
`doiflow relay`, `dramatiq workers.worker`, `doiflow worker` and a CLI command. Each
case checks what the process prints and its exit code.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.e2e.conftest import ADMIN_URL
from tests.e2e.harness import BIN, Harness, clean_environment, free_port, run_command
from tests.fixtures.redis import start_redis_server

# Each process as the Procfile (or a person) starts it; the name it calls itself.
PROCESSES = {
    "web": (
        [
            str(BIN / "gunicorn"),
            "app:create_app()",
            "--config",
            "python:app.gunicorn_config",
            "--no-control-socket",
            "--bind",
            "127.0.0.1:0",
        ],
        "web",
    ),
    "relay": ([str(BIN / "doiflow"), "relay"], "relay"),
    "worker": (
        [str(BIN / "dramatiq"), "workers.worker", "-Q", "doi", "--processes", "1"],
        "worker",
    ),
    "doiflow worker": ([str(BIN / "doiflow"), "worker", "-Q", "doi", "--processes", "1"], "worker"),
    "cli": ([str(BIN / "doiflow"), "create-token", "--name", "x"], "create-token"),
    "dev": ([str(BIN / "doiflow"), "dev", "--sandbox-port", "0"], "dev"),
}
SETTINGS = {"SECRET_KEY": "e2e-startup-secret-key-0123456789", "LOG_FORMAT": "text"}


def run(
    argv: list[str], env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a process that is expected to stop by itself; stdout and stderr together."""
    return subprocess.run(
        argv,
        cwd=cwd,
        env=clean_environment({**SETTINGS, **env}),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def database_at_0004() -> Iterator[str]:
    """A database migrated to 0004 only: `doiflow db upgrade` not run since."""
    name = f"doiflow_e2e_behind_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{ADMIN_URL.rpartition('/')[0]}/{name}"
    run_command(
        [str(BIN / "doiflow"), "db", "upgrade", "--revision", "0004"],
        clean_environment({"DATABASE_URL": url}),
    )
    yield url
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


BAD_SETTINGS = [
    ({"DATABASE_URL": "nonsense"}, "DATABASE_URL must be a PostgreSQL URL"),
    ({"DATABASE_URL": "mysql://u:pw@127.0.0.1/doiflow"}, "DATABASE_URL must be a PostgreSQL URL"),
    (
        {"DATABASE_URL": "postgresql://postgres@127.0.0.1/x", "REDIS_URL": "http://x"},
        "REDIS_URL must be a redis:// or rediss:// URL",
    ),
    (
        {"DATABASE_URL": "postgresql://postgres@127.0.0.1/x", "LOG_FORMAT": "xml"},
        "LOG_FORMAT must be json or text",
    ),
]


@pytest.mark.parametrize("process", PROCESSES)
@pytest.mark.parametrize(("env", "expected"), BAD_SETTINGS)
def test_a_malformed_url_is_one_line_and_exit_2(
    process: str, env: dict[str, str], expected: str, tmp_path: Path
) -> None:
    argv, name = PROCESSES[process]
    done = run(argv, env, cwd=tmp_path)  # `doiflow dev` makes ./var/ where it runs
    assert done.returncode == 2, done.stdout
    naming = [line for line in done.stdout.splitlines() if expected in line]
    assert len(naming) == 1, done.stdout
    assert naming[0].startswith(f"doiflow {name}: {expected}")
    assert "Traceback" not in done.stdout
    assert ":pw@" not in done.stdout


@pytest.mark.parametrize("process", ["web", "relay", "worker", "doiflow worker", "cli"])
def test_a_schema_behind_head_is_refused_with_what_to_run(
    process: str, database_at_0004: str, e2e_redis_url: str
) -> None:
    argv, name = PROCESSES[process]
    done = run(argv, {"DATABASE_URL": database_at_0004, "REDIS_URL": e2e_redis_url})
    assert done.returncode == 3, done.stdout
    refusals = [line for line in done.stdout.splitlines() if line.startswith(f"doiflow {name}: ")]
    assert len(refusals) == 1, done.stdout
    assert re.search(r"schema is at 0004, doiflow needs \w+: run `doiflow db upgrade`", refusals[0])
    assert "Traceback" not in done.stdout


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    """Processes that keep running; stopped at the end of the test."""
    manager = Harness(log_dir=tmp_path, env=clean_environment(SETTINGS))
    try:
        yield manager
    finally:
        manager.stop_all()


RETRY_LINE = "{service} unreachable at start-up; retrying"


@pytest.mark.parametrize("process", ["web", "relay", "worker"])
def test_an_unreachable_database_is_a_line_per_try_not_a_traceback(
    process: str, harness: Harness, e2e_redis_url: str
) -> None:
    # Given a DATABASE_URL nobody listens on
    argv, _ = PROCESSES[process]
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/doiflow"
    started = harness.start(process, argv, env={"DATABASE_URL": url, "REDIS_URL": e2e_redis_url})
    line = RETRY_LINE.format(service="database")
    # Then it says so once a try, with the reason, and backs off (1 s, then 2 s)
    started.wait_ready(lambda: started.log_text().count(line) >= 2, 30, "two retry lines")
    log = started.log_text()
    assert "Connection refused" in log
    assert "retry_in_seconds=1.0" in log
    assert "retry_in_seconds=2.0" in log
    assert "Traceback" not in log
    assert started.running
    # And nothing else started: no worker process booted, no relay waiting for intents
    assert "Booting worker" not in log
    assert "relay started" not in log
    assert "Worker process is ready" not in log


def test_the_relay_waits_for_redis_then_starts(
    harness: Harness, e2e_database_url: str, api_token: str
) -> None:
    # Given a REDIS_URL whose server is not running yet
    port = free_port()
    relay = harness.start(
        "relay",
        PROCESSES["relay"][0],
        env={"DATABASE_URL": e2e_database_url, "REDIS_URL": f"redis://127.0.0.1:{port}/0"},
    )
    line = RETRY_LINE.format(service="Redis")
    relay.wait_ready(lambda: line in relay.log_text(), 30, "a Redis retry line")
    assert "relay started" not in relay.log_text()

    # When that Redis starts
    server = start_redis_server(port)
    try:
        # Then the relay starts, saying so, without a traceback
        relay.wait_for_log("relay started", 40)
        log = relay.log_text()
        assert "Redis answers now; starting" in log
        assert "Traceback" not in log
    finally:
        server.stop()


def test_a_one_shot_command_exits_1_at_once_when_the_database_is_unreachable() -> None:
    url = f"postgresql://postgres:pw@127.0.0.1:{free_port()}/doiflow"
    done = run(PROCESSES["cli"][0], {"DATABASE_URL": url})
    assert done.returncode == 1, done.stdout
    lines = done.stdout.strip().splitlines()
    assert lines[-1].startswith("doiflow create-token: the database at postgresql")
    assert "is unreachable" in lines[-1]
    assert "Traceback" not in done.stdout
    assert ":pw@" not in done.stdout


@pytest.fixture
def migrated_template() -> Iterator[str]:
    """A database at head with nobody connected: a template for CREATE DATABASE."""
    name = f"doiflow_e2e_tpl_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    run_command(
        [str(BIN / "doiflow"), "db", "upgrade"],
        clean_environment({"DATABASE_URL": f"{ADMIN_URL.rpartition('/')[0]}/{name}"}),
    )
    yield name
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_worker_waits_for_its_database_then_starts(
    harness: Harness, migrated_template: str, e2e_redis_url: str
) -> None:
    # Given a DATABASE_URL naming a database that does not exist yet
    name = f"doiflow_e2e_late_{uuid.uuid4().hex[:8]}"
    url = f"{ADMIN_URL.rpartition('/')[0]}/{name}"
    worker = harness.start(
        "worker", PROCESSES["worker"][0], env={"DATABASE_URL": url, "REDIS_URL": e2e_redis_url}
    )
    line = RETRY_LINE.format(service="database")
    worker.wait_ready(lambda: line in worker.log_text(), 30, "a database retry line")
    assert f'database "{name}" does not exist' in worker.log_text()
    try:
        # When it appears, already migrated (a copy of the template, made at once)
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
        # Then the worker starts at its next try, saying so, without a traceback
        worker.wait_for_log("Worker process is ready for action", 40)
        log = worker.log_text()
        assert "database answers now; starting" in log
        assert "Traceback" not in log
    finally:
        harness.stop("worker")
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
