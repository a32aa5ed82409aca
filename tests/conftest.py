"""Shared fixtures live in tests/fixtures/, one module per service they stand up."""

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.runtime",
    "tests.fixtures.pipeline",
    "tests.fixtures.api",
]
