"""A small process manager for real doiflow processes, driven over HTTP.

Used by the end-to-end ring (`tests/e2e/`, through `tests.e2e.harness`) and by the
chaos harness (`ops.chaos`); it lives in `ops` because `ops` never imports `tests`.

Each process runs in its own process group (so a SIGKILL reaches dramatiq's forked
workers too) with stdout and stderr going to one log file. Teardown sends SIGTERM,
then SIGKILL; the last lines of every log are kept for the pytest failure report.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import requests

from app.config import VARIABLES

BIN = Path(sys.executable).parent
T = TypeVar("T")

# Every variable doiflow reads: the harness sets them explicitly, never inherits them.
CONFIG_VARIABLES = VARIABLES


class WaitTimeoutError(AssertionError):
    """A `wait_until` ran out of time; the message names what it waited for."""


class ProcessExitedError(AssertionError):
    """A process died while a test waited for it to become ready."""


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    what: str,
    *,
    interval: float = 0.05,
    describe: Callable[[], object] | None = None,
) -> T:
    """Poll `predicate` until it returns something truthy; fail naming `what` after `timeout`.

    Exceptions from the predicate count as "not yet" (a process still starting), and
    the last one is quoted in the failure. `describe` adds the state seen at the end.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = predicate()
        except ProcessExitedError:
            raise
        except Exception as error:  # a process still starting answers with errors
            last_error = error
            result = None
        if result:
            return result
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    message = f"timed out after {timeout:g}s waiting for {what}"
    if last_error is not None:
        message += f"; last error: {last_error!r}"
    if describe is not None:
        message += f"; last seen: {describe()!r}"
    raise WaitTimeoutError(message)


def free_port() -> int:
    """A TCP port nobody listens on right now (bind to 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_environment(settings: Mapping[str, str]) -> dict[str, str]:
    """The test runner's environment without any doiflow variable, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(settings)
    return env


def http_ok(url: str) -> bool:
    """True when GET `url` answers 200 (used as a readiness probe)."""
    return requests.get(url, timeout=1).status_code == 200


@dataclass
class Process:
    """One child process in its own process group, logging to a file."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    log_path: Path
    cwd: Path | None = None
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        """Spawn the process (a new session, so its whole group can be signalled)."""
        with self.log_path.open("ab") as log:
            log.write(
                f"\n===== {time.strftime('%H:%M:%S')} start: {' '.join(self.argv)}\n".encode()
            )
            log.flush()
            # argv comes from the harness itself, never from input, and no shell is used.
            self.popen = subprocess.Popen(  # noqa: S603
                list(self.argv),
                env=dict(self.env),
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        """The process id, which is also its process-group id."""
        if self.popen is None:
            raise RuntimeError(f"{self.name} was never started")
        return self.popen.pid

    @property
    def running(self) -> bool:
        """Whether the group leader is still alive (checked without reaping it)."""
        return self.popen is not None and self.exit_status() is None

    def exit_status(self) -> int | None:
        """The leader's exit status once it has exited, else None; never reaps it.

        An unreaped leader keeps its pid, hence the group id, ours: signalling the group
        can never reach an unrelated process that was given a recycled id.
        """
        if self.popen is None or self.popen.returncode is not None:
            return None if self.popen is None else self.popen.returncode
        try:
            info = os.waitid(os.P_PID, self.popen.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return self.popen.poll()
        return None if info is None else info.si_status

    def log_text(self) -> str:
        """Everything the process has written so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 40) -> str:
        """The last `lines` lines of the log."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_ready(self, probe: Callable[[], object], timeout: float, what: str) -> None:
        """Wait for `probe`, failing at once (with the log) if the process exits first."""

        def ready() -> object:
            if not self.running:
                raise ProcessExitedError(
                    f"{self.name} exited with status {self.exit_status()} "
                    f"before {what}:\n{self.tail()}"
                )
            return probe()

        try:
            wait_until(ready, timeout, f"{self.name}: {what}", interval=0.1)
        except WaitTimeoutError as error:
            raise WaitTimeoutError(f"{error}\n--- {self.name} log ---\n{self.tail()}") from None

    def wait_for_log(self, text: str, timeout: float) -> None:
        """Wait until `text` appears in the log."""
        self.wait_ready(lambda: text in self.log_text(), timeout, f"log line {text!r}")

    def kill(self) -> None:
        """SIGKILL the whole process group, no grace: a crash."""
        self._signal_group(signal.SIGKILL)
        self._reap()

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the group, then SIGKILL whatever is left after `grace` seconds."""
        self._signal_group(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while self.running and time.monotonic() < deadline:
            time.sleep(0.05)
        # Also reaches children that outlived their leader (dramatiq's forked workers).
        self._signal_group(signal.SIGKILL)
        self._reap()

    def _signal_group(self, sig: signal.Signals) -> None:
        # Only while the leader is unreaped: then the group id is still ours.
        if self.popen is None or self.popen.returncode is not None:
            return
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass

    def _reap(self) -> None:
        if self.popen is not None:
            self.popen.wait(timeout=10)


@dataclass
class Harness:
    """The processes of one test: start, kill, restart, and report their logs."""

    log_dir: Path
    env: dict[str, str]
    cwd: Path | None = None
    processes: dict[str, Process] = field(default_factory=dict)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Process:
        """Start `argv` as `name` (a name already running is an error: stop it first)."""
        current = self.processes.get(name)
        if current is not None and current.running:
            raise RuntimeError(f"{name} is already running (pid {current.pid})")
        process = Process(
            name=name,
            argv=argv,
            env={**self.env, **(env or {})},
            log_path=self.log_dir / f"{name}.log",
            cwd=cwd or self.cwd,
        )
        self.processes[name] = process.start()
        return process

    def __getitem__(self, name: str) -> Process:
        return self.processes[name]

    def kill(self, name: str) -> None:
        """SIGKILL one process group."""
        self.processes[name].kill()

    def stop(self, name: str) -> None:
        """Stop one process gracefully (SIGTERM, then SIGKILL)."""
        self.processes[name].stop()

    def stop_all(self) -> None:
        """Stop every process, newest first (workers before what they depend on)."""
        for process in reversed(list(self.processes.values())):
            process.stop()

    def report(self, lines: int = 40) -> str:
        """The last log lines of every process, for a failing test's report."""
        parts = []
        for process in self.processes.values():
            state = "running" if process.running else f"exited {process.exit_status()}"
            parts.append(
                f"----- {process.name} ({state}) {process.log_path} -----\n{process.tail(lines)}"
            )
        return "\n".join(parts)


def run_command(argv: Sequence[str], env: Mapping[str, str], *, timeout: float = 60) -> str:
    """Run a one-shot command (a release step); return stdout, or fail with its output."""
    done = subprocess.run(  # noqa: S603 - argv from the harness, no shell
        list(argv), env=dict(env), capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        command = " ".join(argv)
        raise AssertionError(
            f"{command} exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
    return done.stdout


def json_of(response: requests.Response, status: int | tuple[int, ...]) -> Any:
    """The JSON body of `response`, asserting its status (the body is quoted on mismatch)."""
    expected = (status,) if isinstance(status, int) else status
    if response.status_code not in expected:
        raise AssertionError(
            f"{response.request.method} {response.url} answered {response.status_code}, "
            f"expected {expected}: {response.text[:2000]}"
        )
    return response.json() if response.content else None
