"""The worker process's Runtime, built from the environment on first use."""

from __future__ import annotations

from app.config import load_settings
from app.runtime import Runtime

_runtime: Runtime | None = None


def runtime() -> Runtime:
    """This process's Runtime (settings validated on first use)."""
    global _runtime  # one Runtime per process, by design
    if _runtime is None:
        _runtime = Runtime.from_settings(load_settings())
    return _runtime


def use(runtime_: Runtime | None) -> None:
    """Install a Runtime built elsewhere (the embedded default and the tests)."""
    global _runtime
    _runtime = runtime_
