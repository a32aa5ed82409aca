"""pytest fixtures for testing against the DataCite sandbox (entry point `doiflow_sandbox`).

Installing doiflow registers this plugin, so an archive's own test suite gets:
`datacite_sandbox` (one SandboxServer on 127.0.0.1 per session), `sandbox` (that
server, emptied of DOIs, requests and faults before each test), `sandbox_control`
(a SandboxControl on it) and `datacite_sandbox_account` (its user, password and
prefixes). The account defaults to REPO.ID / secret / 10.80507; change it with the ini
options `datacite_sandbox_user`, `datacite_sandbox_password` and
`datacite_sandbox_prefixes`, or by overriding the `datacite_sandbox_account` fixture.
Fault rules are built with `ops.sandbox.testing.Fault`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ops.sandbox.control_client import SandboxControl, SandboxControlError
from ops.sandbox.server import SandboxServer
from ops.sandbox.testing import DEFAULT_ACCOUNT, Fault, SandboxAccount

__all__ = ["Fault", "SandboxAccount", "SandboxControl", "SandboxControlError"]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare the ini options naming the sandbox's account."""
    parser.addini("datacite_sandbox_user", "DataCite sandbox user", default=DEFAULT_ACCOUNT.user)
    parser.addini(
        "datacite_sandbox_password", "DataCite sandbox password", default=DEFAULT_ACCOUNT.password
    )
    parser.addini(
        "datacite_sandbox_prefixes",
        "DOI prefixes the sandbox user owns (space-separated)",
        type="args",
        default=list(DEFAULT_ACCOUNT.prefixes),
    )


@pytest.fixture(scope="session")
def datacite_sandbox_account(pytestconfig: pytest.Config) -> SandboxAccount:
    """The repository account the session's sandbox serves (from the ini options)."""
    return SandboxAccount(
        user=str(pytestconfig.getini("datacite_sandbox_user")),
        password=str(pytestconfig.getini("datacite_sandbox_password")),
        prefixes=tuple(pytestconfig.getini("datacite_sandbox_prefixes")),
    )


@pytest.fixture(scope="session")
def datacite_sandbox(datacite_sandbox_account: SandboxAccount) -> Iterator[SandboxServer]:
    """A DataCite sandbox over real HTTP on a free port, for the whole session."""
    account = datacite_sandbox_account
    server = SandboxServer(
        host="127.0.0.1",
        port=0,
        users={account.user: account.password},
        prefixes=list(account.prefixes),
    )
    with server:
        yield server


@pytest.fixture
def sandbox(datacite_sandbox: SandboxServer) -> SandboxServer:
    """The session sandbox, emptied of DOIs, requests and faults."""
    datacite_sandbox.reset()
    return datacite_sandbox


@pytest.fixture
def sandbox_control(sandbox: SandboxServer) -> SandboxControl:
    """A control-interface client of the freshly reset sandbox."""
    return sandbox.control
