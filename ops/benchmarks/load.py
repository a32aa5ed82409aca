"""Load generators: an open-loop writer at an offered rate, and a keep-alive HTTP client."""

from __future__ import annotations

import http.client
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class Offered:
    """What an `offer` did: the results in slot order, and the rate really achieved."""

    results: list[Any]
    seconds: float
    late_ms_p99: float

    @property
    def achieved_per_s(self) -> float:
        """Actions completed per second of the offering window."""
        return len(self.results) / self.seconds if self.seconds else 0.0


def offer(rate: float, seconds: float, writers: int, action: Callable[[int], T]) -> Offered:
    """Call `action(k)` at `start + k/rate` for `seconds` (open loop), from `writers` threads.

    Slots are shared: a writer that is late takes the next slot at once, so the offered
    rate holds while any writer is free; `late_ms_p99` says how late slots started.
    """
    slots = itertools.count()
    lock = threading.Lock()
    results: list[tuple[int, T]] = []
    lateness: list[float] = []
    start = time.monotonic() + 0.05
    end = start + seconds

    def write() -> None:
        while True:
            with lock:
                k = next(slots)
            due = start + k / rate
            if due >= end:
                return
            if (wait := due - time.monotonic()) > 0:
                time.sleep(wait)
            lateness.append(time.monotonic() - due)
            results.append((k, action(k)))

    threads = [threading.Thread(target=write, name=f"writer-{n}") for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finished = max(time.monotonic(), end)
    ordered = [result for _, result in sorted(results, key=lambda pair: pair[0])]
    lateness.sort()
    late = lateness[int(len(lateness) * 0.99) - 1] * 1000 if len(lateness) >= 100 else 0.0
    return Offered(ordered, finished - start, late)


@dataclass
class HttpLoad:
    """Counts of a closed-loop HTTP load: completions inside the measuring window."""

    measured: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    seconds: float = 0.0

    @property
    def per_s(self) -> float:
        """Successful requests per second inside the window."""
        return self.measured / self.seconds if self.seconds else 0.0


def post_load(
    port: int,
    path: str,
    body: Callable[[int], dict[str, Any]],
    *,
    clients: int,
    warmup: float,
    seconds: float,
    headers: dict[str, str] | None = None,
    expect: int = 201,
) -> HttpLoad:
    """`clients` threads POSTing `body(n)` back to back; count answers in the window.

    One `http.client` connection per thread, kept alive when the server allows it
    (gunicorn's sync workers close after each answer; the connection then reopens).
    """
    load = HttpLoad()
    numbers = itertools.count()
    lock = threading.Lock()
    start = time.monotonic() + warmup
    end = start + seconds
    send_headers = {"Content-Type": "application/json", **(headers or {})}

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < end:
            with lock:
                n = next(numbers)
            try:
                conn.request("POST", path, json.dumps(body(n)), send_headers)
                answer = conn.getresponse()
                answer.read()
                status = answer.status
            except (OSError, http.client.HTTPException):
                conn.close()
                status = -1
            done = time.monotonic()
            if start <= done <= end:
                with lock:
                    load.statuses[status] = load.statuses.get(status, 0) + 1
                    if status == expect:
                        load.measured += 1
                    else:
                        load.errors += 1
        conn.close()

    threads = [threading.Thread(target=client, name=f"client-{n}") for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    load.seconds = seconds
    return load
