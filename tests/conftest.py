"""Shared fixtures live in tests/fixtures/, one module per service they stand up.

The DataCite sandbox's come from the `doiflow_sandbox` plugin (an entry point of the
package), so they are not listed here.
"""

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.runtime",
    "tests.fixtures.pipeline",
    "tests.fixtures.api",
]
