"""The relay and the workers as threads of one process: the embedded default (`doiflow dev`)."""

from __future__ import annotations

import threading

import dramatiq

from app.clients.remotes import Remotes
from app.runner import Runner
from app.runtime import Runtime
from workers import broker as broker_module
from workers import context
from workers.relay import Relay


class EmbeddedWorkers:
    """Dramatiq worker threads plus a polling relay thread, started and stopped together."""

    def __init__(self, runtime: Runtime, *, worker_threads: int = 4) -> None:
        self.remotes = Remotes(runtime.settings)
        context.use(Runner(runtime, self.remotes))
        self.broker = broker_module.install(broker_module.build_broker(runtime.settings.redis_url))
        self.worker = dramatiq.Worker(
            self.broker, worker_threads=worker_threads, worker_timeout=100
        )
        self.relay = Relay(runtime, self.broker)
        self._stop = threading.Event()
        self._relay_thread = threading.Thread(
            target=self.relay.run_forever, args=(self._stop,), daemon=True
        )

    def start(self) -> EmbeddedWorkers:
        """Start consuming and relaying."""
        self.worker.start()
        self._relay_thread.start()
        return self

    def stop(self) -> None:
        """Stop the relay, then the workers (in-flight messages finish first)."""
        self._stop.set()
        self._relay_thread.join(timeout=10)
        self.worker.stop()
        self.broker.close()
        self.remotes.close()

    def __enter__(self) -> EmbeddedWorkers:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
