"""What every benchmark needs: its own database and Redis, real processes, clean teardown.

A `Bench` owns everything a benchmark starts: scratch Postgres databases
(`doiflow_bench_<uuid>`, dropped at the end), private `redis-server`s on free ports
(no persistence, temp dir, killed at the end) and doiflow processes, each in its own
process group with its output in a log file. Leaving the `with Bench(...)` block, by
return, exception, Ctrl-C or SIGTERM, stops them all and drops the databases. Nothing
here touches another database or the Redis on 6379.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TypeVar

import psycopg
import redis

from app.config import VARIABLES

BIN = Path(sys.executable).parent
REPO_ROOT = Path(__file__).resolve().parents[2]
ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
T = TypeVar("T")

# Every variable doiflow reads: processes get them from the benchmark only, never inherited.
CONFIG_VARIABLES = VARIABLES


def progress(message: str) -> None:
    """A progress line on stderr (stdout carries only the figures)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll `predicate` until it is truthy; exceptions count as "not yet"."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
        except Exception as error:  # a process still starting answers with errors
            last, result = error, None
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what} (last error: {last!r})")


def service_env(settings: Mapping[str, str]) -> dict[str, str]:
    """This environment without any doiflow variable, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(settings)
    return env


class Process:
    """One child in its own process group (so SIGKILL reaches forked children too)."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], log: Path):
        self.name = name
        self.argv = list(argv)
        self.log_path = log
        with log.open("ab") as out:
            out.write(f"===== {time.strftime('%H:%M:%S')} {' '.join(self.argv)}\n".encode())
            out.flush()
            # A file, never a pipe: a pipe nobody reads fills up and blocks the child.
            self.popen = subprocess.Popen(  # noqa: S603 - argv built by the benchmark
                self.argv,
                env=dict(env),
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        """Process id, which is also the process-group id."""
        return self.popen.pid

    @property
    def running(self) -> bool:
        """Whether the group leader is alive (checked without reaping it)."""
        if self.popen.returncode is not None:
            return False
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return self.popen.poll() is None
        return info is None

    def log_text(self) -> str:
        """Everything the process wrote so far."""
        return self.log_path.read_text(errors="replace")

    def tail(self, lines: int = 30) -> str:
        """The last lines of its log."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_for(self, probe: Callable[[], object], timeout: float, what: str) -> None:
        """Wait for `probe`, failing at once with the log when the process exits."""

        def ready() -> object:
            if not self.running:
                raise RuntimeError(f"{self.name} exited before {what}:\n{self.tail()}")
            return probe()

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if ready():
                    return
            except RuntimeError:
                raise
            except Exception:  # noqa: S110 - still starting
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{self.name}: no {what} after {timeout:g} s:\n{self.tail()}")

    def wait_for_log(self, text: str, timeout: float = 30) -> None:
        """Wait until `text` appears in the log."""
        self.wait_for(lambda: text in self.log_text(), timeout, repr(text))

    def signal(self, sig: signal.Signals) -> None:
        """Signal the whole group, only while the leader is unreaped (the id is still ours)."""
        if self.popen.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL the group at once: a crash."""
        self.signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL whatever is left of the group after `grace` seconds."""
        self.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while self.running and time.monotonic() < deadline:
            time.sleep(0.05)
        self.signal(signal.SIGKILL)
        self.popen.wait(timeout=10)


class Bench:
    """Owns a benchmark's databases, Redis servers and processes; cleans up on exit."""

    def __init__(self, name: str, admin_url: str | None = None) -> None:
        self.name = name
        self.admin_url = admin_url or ADMIN_URL
        self.tmp = Path(tempfile.mkdtemp(prefix=f"doiflow-bench-{name}-"))
        self.processes: list[Process] = []
        self.databases: list[str] = []
        self.redis_servers: list[Process] = []
        self._previous: dict[int, object] = {}

    def __enter__(self) -> Bench:
        # SIGTERM and SIGHUP unwind like Ctrl-C, so the finally blocks run.
        for sig in (signal.SIGTERM, signal.SIGHUP):
            self._previous[sig] = signal.signal(sig, _interrupt)
        logging.getLogger("alembic").setLevel(logging.WARNING)
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        # A second Ctrl-C or SIGTERM must not cut the cleanup short; each step is bounded.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._previous.setdefault(sig, signal.getsignal(sig))
            signal.signal(sig, signal.SIG_IGN)
        if exc is not None and not isinstance(exc, KeyboardInterrupt):
            for process in self.processes:
                progress(f"--- {process.name} log (last lines) ---\n{process.tail()}")
        for process in reversed(self.processes):
            with contextlib.suppress(Exception):
                process.stop(grace=5)
        for name in self.databases:
            with contextlib.suppress(Exception):
                drop_database(self.admin_url, name)
        for server in self.redis_servers:
            with contextlib.suppress(Exception):
                server.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> Process:
        """Start a process; it is stopped when the bench ends (or earlier by the caller)."""
        process = Process(name, argv, env, self.tmp / f"{name}.log")
        self.processes.append(process)
        return process

    def stop(self, process: Process) -> None:
        """Stop one process now."""
        process.stop()
        self.processes.remove(process)

    def database(self, tag: str = "") -> str:
        """A fresh database migrated to head; its postgresql:// URL. Dropped at the end."""
        name = f"doiflow_bench_{tag + '_' if tag else ''}{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        url = f"{self.admin_url.rpartition('/')[0]}/{name}"
        from app.schema import upgrade

        upgrade(url)
        return url

    def redis(self) -> str:
        """A private redis-server on a free port; its redis:// URL (database 0)."""
        port = free_port()
        data = self.tmp / f"redis-{port}"
        data.mkdir()
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(data), "--daemonize", "no"]
        server = Process(f"redis-{port}", argv, dict(os.environ), self.tmp / f"redis-{port}.log")
        self.redis_servers.append(server)
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        server.wait_for(client.ping, 10, "PING")
        client.close()
        return url


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def drop_database(admin_url: str, name: str) -> None:
    """Drop one scratch database, whoever is still connected."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlalchemy_url(url: str) -> str:
    """postgresql://… → postgresql+psycopg://… (what app.config does to DATABASE_URL)."""
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def listening_relays(conn: psycopg.Connection, database_url: str) -> int:
    """How many backends of this database are LISTENing on the outbox channel."""
    name = database_url.rpartition("/")[2]
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND query LIKE 'LISTEN %%'",
        (name,),
    ).fetchone()
    return int(row[0]) if row else 0


@contextlib.contextmanager
def connect(url: str) -> Iterator[psycopg.Connection]:
    """An autocommit psycopg connection (no transaction left open between polls)."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        yield conn
