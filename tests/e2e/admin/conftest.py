"""A real browser (Debian's chromium, driven by Playwright) against the real processes.

One stack per module: the DataCite sandbox, gunicorn, a relay, a DOI worker and a hold
worker (on an Object Lock bucket of the tests' SeaweedFS), with admin accounts made by
`doiflow create-admin`. Each test gets fresh browser profiles
(a new empty --user-data-dir each), so no cookie crosses from one account to another.
Chromium comes from Debian (`.ci/run` installs it); Playwright never downloads one.
"""

from __future__ import annotations

import itertools
import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright

from tests.e2e.conftest import PREFIX, SANDBOX_USER, SandboxControl, Stack
from tests.e2e.harness import BIN, Harness, free_port, http_ok
from tests.fixtures.s3 import Buckets, S3Endpoint

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
REPO_ROOT = Path(__file__).resolve().parents[3]
# Long, distinctive values, so a grep of the pages for them means something.
SANDBOX_PASSWORD = "sandbox-pw-" + secrets.token_hex(8)
ADMIN_PASSWORD = "admin-pw-" + secrets.token_hex(8)


@pytest.fixture(scope="module")
def hold_bucket(s3_endpoint: S3Endpoint) -> Iterator[str]:
    """An Object Lock bucket of this module's, emptied and removed afterwards."""
    made = Buckets(s3_endpoint)
    yield made.locked()
    made.remove_all()


@pytest.fixture(scope="module")
def e2e_overrides(s3_endpoint: S3Endpoint, hold_bucket: str) -> dict[str, str]:
    """Counts at most a second old, so the dashboard follows the test; legal holds on S3."""
    return {
        "ADMIN_SNAPSHOT_SECONDS": "1",
        "S3_BUCKET": hold_bucket,
        "S3_ENDPOINT_URL": s3_endpoint.url,
        "AWS_ACCESS_KEY_ID": s3_endpoint.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_endpoint.secret_key,
        "AWS_REGION": s3_endpoint.region,
    }


class AdminStack(Stack):
    """The e2e stack with a sandbox of its own password and admin accounts."""

    def start_sandbox(self) -> Any:
        port = free_port()
        account = ["--user", SANDBOX_USER, "--password", SANDBOX_PASSWORD, "--prefix", PREFIX]
        process = self.harness.start(
            "sandbox",
            [str(BIN / "doiflow"), "sandbox", "--host", "127.0.0.1", "--port", str(port), *account],
        )
        self.sandbox_url = f"http://127.0.0.1:{port}"
        process.wait_ready(
            lambda: http_ok(f"{self.sandbox_url}/__sandbox/dois"), 20, "GET /__sandbox/dois"
        )
        self.harness.env.update(
            DATACITE_API_URL=self.sandbox_url,
            DATACITE_USER=SANDBOX_USER,
            DATACITE_PASSWORD=SANDBOX_PASSWORD,
            DATACITE_PREFIX=PREFIX,
        )
        self.sandbox = SandboxControl(self.sandbox_url)
        return process

    def create_admin(self, email: str, role: str) -> None:
        """`doiflow create-admin EMAIL --role ROLE`, the password on stdin."""
        done = subprocess.run(
            [str(BIN / "doiflow"), "create-admin", email, "--role", role],
            input=ADMIN_PASSWORD + "\n",
            env=self.harness.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    @property
    def url(self) -> str:
        return self.api.url


@pytest.fixture(scope="module")
def admin_stack(
    e2e_env: dict[str, str], api_token: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AdminStack]:
    """Sandbox, gunicorn, relay, worker and hold-worker for the whole module, three accounts."""
    log_dir = tmp_path_factory.mktemp("admin-logs")
    harness = Harness(log_dir=log_dir, env=dict(e2e_env), cwd=REPO_ROOT)
    stack = AdminStack(harness, api_token)
    try:
        stack.start_sandbox()
        stack.start_web()
        stack.start_relay()
        stack.start_worker()
        stack.start_hold_worker()
        for role in ("admin", "operator", "viewer"):
            stack.create_admin(f"{role}@example.org", role)
        yield stack
    finally:
        harness.stop_all()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver; it launches only the chromium named by CHROMIUM."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium (see .ci/run)"
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def browser(playwright: Playwright, tmp_path: Path) -> Iterator[Callable[[], BrowserContext]]:
    """browser() → a new chromium with an empty profile, closed after the test."""
    opened: list[BrowserContext] = []
    numbers = itertools.count(1)

    def launch() -> BrowserContext:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / f"profile-{next(numbers)}"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport=DESKTOP,
        )
        context.set_default_timeout(15_000)
        opened.append(context)
        return context

    yield launch
    for context in opened:
        context.close()


@pytest.fixture
def log_in(admin_stack: AdminStack, browser: Callable[[], BrowserContext]) -> Callable[[str], Page]:
    """log_in("viewer") → a page of a new browser, logged in through the form."""

    def open_as(role: str) -> Page:
        page = browser().new_page()
        page.goto(f"{admin_stack.url}/admin")
        assert page.url.startswith(f"{admin_stack.url}/admin/login")
        page.fill("input[name=email]", f"{role}@example.org")
        page.fill("input[name=password]", ADMIN_PASSWORD)
        page.click("form button[type=submit]")
        page.wait_for_url(f"{admin_stack.url}/admin/")
        return page

    return open_as


@pytest.fixture
def intent_status(e2e_database_url: str) -> Callable[[int], str]:
    """The status of an intent as the database holds it."""

    def status(intent_id: int) -> str:
        with psycopg.connect(e2e_database_url, connect_timeout=5) as conn:
            row = conn.execute("SELECT status FROM outbox WHERE id = %s", (intent_id,)).fetchone()
        assert row is not None, intent_id
        return str(row[0])

    return status
