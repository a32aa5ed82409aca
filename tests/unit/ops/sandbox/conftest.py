"""Sandboxes the sandbox's own tests need besides the session one."""

from __future__ import annotations

import pytest

from ops.sandbox import SandboxServer
from tests.fixtures.sandbox import SANDBOX_PREFIX


@pytest.fixture
def two_repositories():
    with SandboxServer(
        users={"ALICE.REPO": "a-secret", "BOB.REPO": "b-secret"},
        prefixes={"ALICE.REPO": [SANDBOX_PREFIX], "BOB.REPO": ["10.80508"]},
    ) as server:
        yield server
