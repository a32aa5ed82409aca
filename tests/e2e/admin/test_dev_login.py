"""`doiflow dev` prints an admin login that works, with a SECRET_KEY of its own."""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.harness import BIN, Harness, clean_environment, free_port, http_ok


@pytest.fixture
def dev_harness(tmp_path: Path) -> Iterator[Harness]:
    """No database, Redis or DataCite settings: `doiflow dev` brings its own."""
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    workdir = tmp_path / "first-try"
    workdir.mkdir()
    manager = Harness(log_dir=log_dir, env=clean_environment({}), cwd=workdir)
    try:
        yield manager
    finally:
        manager.stop_all()


def test_the_printed_admin_login_logs_in(dev_harness: Harness) -> None:
    port = free_port()
    argv = [str(BIN / "doiflow"), "dev", "--sandbox-port", "0"]  # not 5300: runs in parallel
    dev = dev_harness.start("dev", argv, env={"PORT": str(port)})
    dev.wait_for_log("Stop with Ctrl-C", 60)
    printed = re.search(
        r"admin page\s+(http\S+/admin)\s+\(log in as (\S+) / (\S+)\)", dev.log_text()
    )
    assert printed, dev.log_text()
    url, email, password = printed.groups()
    dev.wait_ready(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), 10, "GET /healthz")

    session = requests.Session()
    form = session.get(f"{url}/login", timeout=5).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token
    answer = session.post(
        f"{url}/login",
        data={"email": email, "password": password, "csrf_token": token.group(1)},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 303, answer.text[:500]
    assert "Dashboard" in session.get(f"{url}/", timeout=10).text

    var = dev_harness.cwd / "var"
    for kept in ("secret-key", "dev-admin-password"):
        assert stat.S_IMODE((var / kept).stat().st_mode) == 0o600, kept
    assert (var / "secret-key").read_text().strip() not in dev.log_text()
