"""The e2e ring's process manager; the code lives in `ops.harness` (ops never imports tests)."""

from __future__ import annotations

from ops.harness import (
    BIN,
    CONFIG_VARIABLES,
    Harness,
    Process,
    ProcessExitedError,
    WaitTimeoutError,
    clean_environment,
    free_port,
    http_ok,
    json_of,
    run_command,
    wait_until,
)

__all__ = [
    "BIN",
    "CONFIG_VARIABLES",
    "Harness",
    "Process",
    "ProcessExitedError",
    "WaitTimeoutError",
    "clean_environment",
    "free_port",
    "http_ok",
    "json_of",
    "run_command",
    "wait_until",
]
