"""The worker process's Runtime, remotes and runner, built from the environment on first use."""

from __future__ import annotations

import threading

from app.clients.remotes import Remotes
from app.config import load_settings
from app.runner import Runner
from app.runtime import Runtime

_runner: Runner | None = None
_lock = threading.Lock()


def runner() -> Runner:
    """This process's Runner (settings validated on first use); one per process."""
    global _runner
    with _lock:  # worker threads start together; build one engine, not one each
        if _runner is None:
            settings = load_settings()
            _runner = Runner(Runtime.from_settings(settings), Remotes(settings))
        return _runner


def use(runner_: Runner | None) -> None:
    """Install a Runner built elsewhere (worker entry, the embedded default, the tests)."""
    global _runner
    with _lock:
        _runner = runner_
