"""The worker process's Runtime, built from the environment on first use."""

from __future__ import annotations

import threading

from app.config import load_settings
from app.runtime import Runtime

_runtime: Runtime | None = None
_lock = threading.Lock()


def runtime() -> Runtime:
    """This process's Runtime (settings validated on first use); one per process."""
    global _runtime
    with _lock:  # worker threads start together; build one engine, not one each
        if _runtime is None:
            _runtime = Runtime.from_settings(load_settings())
        return _runtime


def use(runtime_: Runtime | None) -> None:
    """Install a Runtime built elsewhere (worker entry, the embedded default, the tests)."""
    global _runtime
    with _lock:
        _runtime = runtime_
