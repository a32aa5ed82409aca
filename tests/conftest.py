"""Shared fixtures live in tests/fixtures/, one module per service they stand up.

Every test belongs to the ring its folder names (tests/unit, tests/integration,
tests/e2e) and gets that ring's marker here, so `pytest -m unit` runs only the tests
that need no service.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.redis",
    "tests.fixtures.runtime",
    "tests.fixtures.pipeline",
    "tests.fixtures.api",
    "tests.fixtures.s3",
]

TESTS = Path(__file__).parent
RINGS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with the ring of its folder; a test outside the rings is an error."""
    for item in items:
        ring = Path(item.path).resolve().relative_to(TESTS).parts[0]
        if ring not in RINGS:
            raise pytest.UsageError(f"{item.nodeid}: tests live under one of {RINGS}")
        item.add_marker(ring)
