"""The worker process's recorder (`app.recorder`): sized from Dramatiq's worker threads,
and drained before the process exits."""

from __future__ import annotations

import dramatiq

from workers import context

# Recording takes milliseconds an outcome; a database that does not answer within this
# leaves the rest to the relay's rescue, one lease later. Below the 30 s a platform such
# as Heroku leaves between SIGTERM and SIGKILL, Dramatiq's own shutdown included.
DRAIN_SECONDS = 20.0


class Recording(dramatiq.Middleware):
    """Sizes the recorder at boot and drains it once the worker threads have stopped."""

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # One recorder thread per two worker threads: the doi-worker's two threads share
        # one, the hold-worker's 8 (or more) get 4. A recorder thread per worker thread
        # gave the doi-worker nothing (51.2 DOIs/s against 52.3 without any recorder, in
        # the end-to-end benchmark): records in parallel only queue for the same GIL.
        recorder = context.runner().recorder
        if recorder is not None:
            recorder.threads = max(1, worker.worker_threads // 2)

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        context.runner().drain(DRAIN_SECONDS)
