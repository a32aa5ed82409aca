"""HOLD_CONCURRENCY's semaphore on real Redis: never more than the limit, slots never leak."""

from __future__ import annotations

import threading
import time

import pytest

from app.semaphore import LocalSemaphore, RedisSemaphore


def _most_at_once(semaphores: list, workers: int, hold_seconds: float = 0.05) -> int:
    """`workers` threads (spread over the semaphores) each hold a slot; the most at once."""
    lock, inside, most = threading.Lock(), [0], [0]

    def work(semaphore) -> None:
        token = semaphore.acquire(timeout=10)
        assert token is not None
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(hold_seconds)
        with lock:
            inside[0] -= 1
        semaphore.release(token)

    threads = [
        threading.Thread(target=work, args=(semaphores[n % len(semaphores)],))
        for n in range(workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return most[0]


@pytest.mark.parametrize("limit", [1, 3])
def test_redis_semaphore_never_lets_more_than_the_limit_in(redis_url: str, limit: int) -> None:
    semaphores = [RedisSemaphore(redis_url, limit, expire_seconds=30) for _ in range(2)]
    # Two "processes" (clients) sharing one limit, twelve threads between them
    assert _most_at_once(semaphores, 12) == limit
    assert semaphores[0].held() == 0
    for semaphore in semaphores:
        semaphore.close()


def test_a_slot_whose_holder_died_frees_itself_after_its_expiry(redis_url: str) -> None:
    semaphore = RedisSemaphore(redis_url, 1, expire_seconds=0.5)
    assert semaphore.acquire(timeout=0) is not None  # never released: its worker was killed
    assert semaphore.acquire(timeout=0) is None
    assert semaphore.acquire(timeout=2) is not None
    semaphore.close()


def test_local_semaphore_keeps_the_same_limit() -> None:
    assert _most_at_once([LocalSemaphore(2)], 8) == 2
