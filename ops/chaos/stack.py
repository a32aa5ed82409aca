"""The processes of one chaos run: its own database and Redis, the sandbox, the Procfile.

Everything binds to 127.0.0.1. The database (`doiflow_chaos_<uuid>`) and the Redis
server (no persistence, a temp dir) belong to this run alone, so the chaos can kill
and empty them without touching anyone else's; `close()` removes both.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis

from ops.chaos.config import PREFIX, SANDBOX_PASSWORD, SANDBOX_USER, ChaosConfig
from ops.chaos.wiretap import Wiretap
from ops.harness import BIN, Harness, clean_environment, free_port, http_ok, run_command

RELAYS = ("relay-1", "relay-2")
WORKERS = ("doi-worker-1", "doi-worker-2")
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Spec:
    """How to start one named process and tell that it is ready."""

    argv: list[str]
    ready: Callable[[], object] | None = None
    log_line: str | None = None
    timeout: float = 30


class Stack:
    """Start, kill, restart and tear down the run's processes."""

    def __init__(self, config: ChaosConfig, log_dir: Path) -> None:
        self.config = config
        self.log_dir = log_dir
        env = clean_environment(config.process_settings())
        self.harness = Harness(log_dir=log_dir, env=env, cwd=REPO_ROOT)
        self.specs: dict[str, Spec] = {}
        self.database_name = f"doiflow_chaos_{uuid.uuid4().hex[:12]}"
        self.database_url = ""
        self.redis_port = 0
        self.sandbox_url = ""
        self.api_url = ""
        self.token = ""
        self.operator_token = ""
        self.wiretap: Wiretap | None = None
        # The chaos thread restarts processes while the main thread may be closing.
        self._lock = threading.Lock()
        self._closed = False

    def start(self) -> None:
        """Bring everything up, in the Procfile's order (release before web)."""
        self._create_database()
        self.redis_port = free_port()
        self._define("redis", self._redis_spec())
        self._launch("redis")
        self._define("sandbox", self._sandbox_spec())
        self._launch("sandbox")
        self.wiretap = Wiretap(self.sandbox_url, self.config.read_timeout)
        datacite_url = self.wiretap.start()
        self.harness.env.update(self._environment(datacite_url))
        run_command([str(BIN / "doiflow"), "db", "upgrade"], self.harness.env)
        self.token = self._create_token("chaos-archive", "read,write")
        self.operator_token = self._create_token("chaos-operator", "read,write,operator")
        self._define("web", self._web_spec())
        for name in RELAYS:
            self._define(name, Spec([str(BIN / "doiflow"), "relay"], log_line="relay started"))
        for name in WORKERS:
            self._define(name, self._worker_spec())
        for name in ("web", *RELAYS, *WORKERS):
            self._launch(name)

    def close(self) -> None:
        """Stop every process, the wiretap, and drop the database."""
        with self._lock:
            self._closed = True
        try:
            self.harness.stop_all()
        finally:
            if self.wiretap is not None:
                self.wiretap.stop()
            self._drop_database()

    def kill(self, name: str) -> None:
        """SIGKILL one process (its whole group): a crash."""
        self.harness.kill(name)

    def restart(self, name: str) -> None:
        """Start a process that is down again with the same command, and wait until ready."""
        with self._lock:
            if self._closed or self.harness.processes[name].running:
                return
            self._launch(name)

    def running(self, name: str) -> bool:
        """Whether the named process is alive."""
        return self.harness.processes[name].running

    def down(self) -> list[str]:
        """The names of processes that are not running."""
        return [name for name, p in self.harness.processes.items() if not p.running]

    def redis_client(self) -> redis.Redis:
        """A client for the run's own Redis server."""
        return redis.Redis(host="127.0.0.1", port=self.redis_port, socket_timeout=2)

    def _define(self, name: str, spec: Spec) -> None:
        self.specs[name] = spec

    def _launch(self, name: str) -> None:
        spec = self.specs[name]
        previous = self.harness.processes.get(name)
        # A restart appends to the same log: only what the new process writes counts.
        offset = len(previous.log_text()) if previous is not None else 0
        process = self.harness.start(name, spec.argv)
        if spec.log_line is not None:
            line = spec.log_line
            process.wait_ready(
                lambda: line in process.log_text()[offset:], spec.timeout, f"log line {line!r}"
            )
        if spec.ready is not None:
            process.wait_ready(spec.ready, spec.timeout, f"{name} ready")

    def _redis_spec(self) -> Spec:
        data_dir = self.log_dir / "redis-data"
        data_dir.mkdir(exist_ok=True)
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("redis-server is not on PATH; the chaos run needs its own Redis")
        argv = [server, "--port", str(self.redis_port), "--bind", "127.0.0.1"]
        # No persistence: a restart comes back empty, as a flushed or replaced Redis does.
        argv += ["--save", "", "--appendonly", "no", "--dir", str(data_dir)]
        return Spec(argv, ready=lambda: self.redis_client().ping(), timeout=15)

    def _sandbox_spec(self) -> Spec:
        port = free_port()
        self.sandbox_url = f"http://127.0.0.1:{port}"
        argv = [str(BIN / "doiflow"), "sandbox", "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--user", SANDBOX_USER, "--password", SANDBOX_PASSWORD, "--prefix", PREFIX]
        return Spec(argv, ready=lambda: http_ok(f"{self.sandbox_url}/__sandbox/dois"))

    def _web_spec(self) -> Spec:
        port = free_port()
        self.api_url = f"http://127.0.0.1:{port}"
        # The Procfile's web line, bound to 127.0.0.1 (no control socket: its default
        # path is per user, so parallel runs would share it).
        argv = [str(BIN / "gunicorn"), "app:create_app()", "--no-control-socket"]
        argv += ["--bind", f"127.0.0.1:{port}", "--workers", "2", "--access-logfile", "-"]
        return Spec(argv, ready=lambda: http_ok(f"{self.api_url}/healthz"))

    def _worker_spec(self) -> Spec:
        threads = str(self.config.worker_threads)
        argv = [str(BIN / "dramatiq"), "workers.worker", "-Q", "doi"]
        argv += ["--processes", "1", "--threads", threads]
        return Spec(argv, log_line="Worker process is ready for action")

    def _environment(self, datacite_url: str) -> dict[str, str]:
        return clean_environment(
            {
                **self.config.process_settings(),
                "DATABASE_URL": self.database_url,
                "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                "DATACITE_API_URL": datacite_url,
                "DATACITE_USER": SANDBOX_USER,
                "DATACITE_PASSWORD": SANDBOX_PASSWORD,
                "DATACITE_PREFIX": PREFIX,
            }
        )

    def _create_token(self, name: str, scopes: str) -> str:
        argv = [str(BIN / "doiflow"), "create-token", "--name", name, "--scopes", scopes]
        return run_command(argv, self.harness.env).strip().splitlines()[-1].strip()

    def _create_database(self) -> None:
        with psycopg.connect(self.config.admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{self.database_name}"')
        base, _, _ = self.config.admin_url.rpartition("/")
        self.database_url = f"{base}/{self.database_name}"

    def _drop_database(self) -> None:
        if not self.database_url:
            return
        with psycopg.connect(self.config.admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)')
        self.database_url = ""
