"""The README's commands, run as written: the process section, and the test variables.

The lines are read from README.md when the test runs, so the README and the test cannot
drift apart. Only what must differ on a shared machine is replaced, each replacement
asserted to be there: the database name, the Redis URL and the sandbox's port (the
README's fixed ones belong to whoever runs it by hand), and `PORT` is set, as honcho
reads it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
import requests

from tests.e2e.conftest import ADMIN_URL, REPO_ROOT
from tests.e2e.harness import BIN, Harness, clean_environment, free_port, wait_until

README = REPO_ROOT / "README.md"
PASSWORD = "a-long-enough-password-for-the-readme"


def readme_block(start: str, end: str) -> str:
    """The fenced shell block between two HTML comment markers of README.md."""
    text = README.read_text()
    block = text.split(f"<!-- {start} -->", 1)[1].split(f"<!-- {end} -->", 1)[0]
    match = re.search(r"```sh\n(.*?)```", block, re.DOTALL)
    assert match, f"no ```sh block between {start} and {end}"
    return match.group(1)


def replaced(script: str, replacements: dict[str, str]) -> str:
    """`script` with each key replaced; every key must occur (else the README changed)."""
    for old, new in replacements.items():
        assert old in script, f"the README's process section no longer contains {old!r}"
        script = script.replace(old, new)
    return script


@pytest.fixture
def scratch_database() -> Iterator[str]:
    """A unique database name for the README's `createdb`; dropped afterwards."""
    name = f"doiflow_readme_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def readme_harness(tmp_path: Path) -> Iterator[Harness]:
    """A harness whose one process is the README's shell; stopped with time for honcho."""
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    manager = Harness(log_dir=log_dir, env=clean_environment({}), cwd=REPO_ROOT)
    try:
        yield manager
    finally:
        # honcho starts each process in a session of its own: SIGTERM every one of them
        # (honcho's too), wait for them to go, SIGKILL what is left.
        for process in manager.processes.values():
            inner = descendants(process.pid)
            for pid in inner:
                _signal(pid, signal.SIGTERM)
            try:
                wait_until(lambda inner=inner: not any(map(_alive, inner)), 30, "honcho's end")
            finally:
                for pid in filter(_alive, inner):
                    _signal(pid, signal.SIGKILL)
            process.stop()


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc), children before grandchildren."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        children = parents.get(queue.pop(0), [])
        found += children
        queue += children
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def test_the_process_section_reaches_a_draft_doi(
    readme_harness: Harness, scratch_database: str, e2e_redis_url: str, tmp_path: Path
) -> None:
    # Given the README's process section, on this machine's free ports and scratch names
    redis.Redis.from_url(e2e_redis_url).flushdb()
    sandbox_port, web_port = free_port(), free_port()
    script = replaced(
        readme_block("processes:start", "processes:end"),
        {
            "-U postgres doiflow\n": f"-U postgres {scratch_database}\n",
            "127.0.0.1:5432/doiflow ": f"127.0.0.1:5432/{scratch_database} ",
            "REDIS_URL=redis://127.0.0.1:6379/0": f"REDIS_URL={e2e_redis_url}",
            "127.0.0.1:5300": f"127.0.0.1:{sandbox_port}",
            "--port 5300": f"--port {sandbox_port}",
        },
    )
    script_path = tmp_path / "readme.sh"
    script_path.write_text(script)
    password = tmp_path / "password"
    password.write_text(PASSWORD + "\n")
    # When it runs in bash from the repository's folder, stopping at the first failure,
    # with the password create-admin asks for on stdin (it reads stdin when not a tty)
    shell = readme_harness.start(
        "readme",
        ["bash", "-c", 'exec bash -e "$0" < "$1"', str(script_path), str(password)],
        env={"PORT": str(web_port), "PATH": os.environ["PATH"]},
    )
    shell.wait_for_log("admin account you@example.org (admin) created", 90)
    token = wait_until(
        lambda: re.search(r"^(dfl_\S+)$", shell.log_text(), re.MULTILINE),
        10,
        "the token printed by create-token",
    ).group(1)
    api = f"http://127.0.0.1:{web_port}"
    shell.wait_ready(lambda: requests.get(f"{api}/healthz", timeout=1).ok, 60, "web on $PORT")
    shell.wait_for_log("relay started", 60)

    # Then the README's curl lines, with that token, create a dataset whose concept DOI
    # is a draft in the sandbox
    try_it = replaced(
        readme_block("processes-try:start", "processes-try:end"),
        {
            "TOKEN=dfl_…": f"TOKEN={token}",
            "127.0.0.1:5000": f"127.0.0.1:{web_port}",
            "127.0.0.1:5300": f"127.0.0.1:{sandbox_port}",
        },
    )
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", try_it],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout.splitlines()[0])
    doi = created["concept_doi"]["doi"]

    def draft_in_sandbox() -> bool:
        listed = requests.get(f"http://127.0.0.1:{sandbox_port}/__sandbox/dois", timeout=2)
        return any(d["doi"] == doi and d["state"] == "draft" for d in listed.json())

    wait_until(draft_in_sandbox, 30, f"{doi} as a draft in the README's sandbox")
    assert "Traceback" not in shell.log_text()


def run_pytest(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`.venv/bin/pytest ARGS` as the README's test command runs, with `env`."""
    return subprocess.run(
        [str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", "--timeout", "90", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


# Integration tests that need one service each (and close what they open).
NEEDS_REDIS = (
    "tests/integration/app/test_ratelimit.py::"
    "test_bucket_grants_its_capacity_then_says_how_long_to_wait"
)
NEEDS_POSTGRES = "tests/integration/app/test_app.py::test_create_app_reads_the_environment"
NEEDS_S3 = "tests/integration/workers/test_worker.py::test_a_locked_bucket_lets_the_worker_start"
E2E_TEST = "tests/e2e/test_happy_path.py"


def test_the_test_section_variables_move_the_tests(e2e_redis_url: str) -> None:
    # Given the variables the README's test section documents
    documented = README.read_text().split("## Running the real processes")[0]
    for name in ("TEST_POSTGRES_URL", "TEST_REDIS_URL", "E2E_REDIS_URL", "TEST_S3_ENDPOINT"):
        assert f"`{name}`" in documented, name
    base = clean_environment({})
    base.pop("TEST_REDIS_URL", None)
    base.pop("E2E_REDIS_URL", None)
    base.pop("TEST_POSTGRES_URL", None)

    # When TEST_REDIS_URL names a Redis database: that one is used (and flushed)
    chosen = e2e_redis_url.rsplit("/", 1)[0] + "/5"
    client = redis.Redis.from_url(chosen)
    client.set("left-by-someone", "1")
    done = run_pytest([NEEDS_REDIS], {**base, "TEST_REDIS_URL": chosen})
    assert done.returncode == 0, done.stdout + done.stderr
    assert client.get("left-by-someone") is None, "TEST_REDIS_URL's database was not the one used"
    client.close()

    # When TEST_POSTGRES_URL names a server nobody listens on: the run fails, naming it
    dead = free_port()
    done = run_pytest(
        [NEEDS_POSTGRES],
        {**base, "TEST_POSTGRES_URL": f"postgresql://postgres@127.0.0.1:{dead}/postgres"},
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"port {dead} failed" in done.stdout

    # When E2E_REDIS_URL names a Redis database: the e2e processes use that one
    e2e_chosen = e2e_redis_url.rsplit("/", 1)[0] + "/6"
    client = redis.Redis.from_url(e2e_chosen)
    client.set("left-by-someone", "1")
    done = run_pytest([E2E_TEST], {**base, "E2E_REDIS_URL": e2e_chosen})
    assert done.returncode == 0, done.stdout + done.stderr
    assert client.get("left-by-someone") is None, "E2E_REDIS_URL's database was not the one used"
    client.close()

    # When TEST_S3_ENDPOINT names an S3 server nobody listens on: the S3 tests fail on it
    dead = free_port()
    s3 = {"TEST_S3_ENDPOINT": f"http://127.0.0.1:{dead}", "TEST_S3_ACCESS_KEY": "k"}
    done = run_pytest([NEEDS_S3], {**base, **s3, "TEST_S3_SECRET_KEY": "s"})
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"http://127.0.0.1:{dead}" in done.stdout

    # When neither Redis variable is set: the session's own redis-server, so without one
    # on PATH the run fails saying so (it never falls back to a shared Redis)
    done = run_pytest([NEEDS_REDIS], base)
    assert done.returncode == 0, done.stdout + done.stderr
    done = run_pytest([NEEDS_REDIS], {**base, "PATH": str(BIN)})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "redis-server is not installed" in done.stdout
