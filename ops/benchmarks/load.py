"""Load generators: an open-loop writer at an offered rate, and a keep-alive HTTP client."""

from __future__ import annotations

import http.client
import itertools
import json
import multiprocessing
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
    lateness: list[float] = field(default_factory=list, repr=False)

    @property
    def achieved_per_s(self) -> float:
        """Actions completed per second of the offering window."""
        return len(self.results) / self.seconds if self.seconds else 0.0


def offer(
    rate: float,
    seconds: float,
    writers: int,
    action: Callable[[int], T],
    *,
    start: float | None = None,
    first: int = 0,
    step: int = 1,
) -> Offered:
    """Call `action(k)` at `start + k/rate` for `seconds` (open loop), from `writers` threads.

    Slots are shared: a writer that is late takes the next slot at once, so the offered
    rate holds while any writer is free; `late_ms_p99` says how late slots started.
    `first` and `step` pick every step-th slot from `first` (one process's share when
    several offer together, see `offer_from_processes`).
    """
    slots = itertools.count(first, step)
    lock = threading.Lock()
    results: list[tuple[int, T]] = []
    lateness: list[float] = []
    start = time.monotonic() + 0.05 if start is None else start
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
    return Offered(ordered, finished - start, _p99_ms(lateness), lateness)


def _p99_ms(lateness: list[float]) -> float:
    ordered = sorted(lateness)
    return ordered[int(len(ordered) * 0.99) - 1] * 1000 if len(ordered) >= 100 else 0.0


def offer_from_processes(
    rate: float,
    seconds: float,
    processes: int,
    make_action: Callable[..., Callable[[int], T]],
    *args: Any,
    threads: int = 2,
) -> Offered:
    """`offer` from several processes at once, so the offering is not bound by one GIL.

    Each process builds its action with `make_action(*args)` (a module-level function:
    processes are spawned), says it is ready, and offers every processes-th slot from
    the same start. Results come back in slot order, as from `offer`.
    """
    context = multiprocessing.get_context("spawn")
    pipes, children = [], []
    for number in range(processes):
        parent, child = context.Pipe()
        process = context.Process(
            target=_offer_in_child,
            args=(child, rate, seconds, threads, number, processes, make_action, args),
            daemon=True,
        )
        process.start()
        pipes.append(parent)
        children.append(process)
    try:
        for pipe in pipes:
            if not pipe.poll(60) or pipe.recv() != "ready":
                raise RuntimeError("a writer process did not start")
        start = time.monotonic() + 0.2
        for pipe in pipes:
            pipe.send(start)
        parts = [pipe.recv() for pipe in pipes]
    finally:
        for process in children:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    results = sorted(itertools.chain.from_iterable(part["results"] for part in parts))
    lateness = list(itertools.chain.from_iterable(part["lateness"] for part in parts))
    finished = max(part["finished"] for part in parts)
    return Offered([r for _, r in results], finished - start, _p99_ms(lateness), lateness)


def _offer_in_child(
    pipe: Any,
    rate: float,
    seconds: float,
    threads: int,
    number: int,
    processes: int,
    make_action: Callable[..., Callable[[int], Any]],
    args: tuple[Any, ...],
) -> None:
    action = make_action(*args)
    pipe.send("ready")
    start = pipe.recv()
    keyed = offer(
        rate, seconds, threads, lambda k: (k, action(k)), start=start, first=number, step=processes
    )
    pipe.send(
        {
            "results": keyed.results,
            "lateness": keyed.lateness,
            "finished": start + keyed.seconds,
        }
    )


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
