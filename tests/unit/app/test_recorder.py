"""The background recorder: in order, drained on request, bounded, and never silent."""

from __future__ import annotations

import logging
import threading

import structlog

from app.recorder import BackgroundRecorder


def test_items_are_recorded_in_the_order_they_were_submitted() -> None:
    recorded: list[int] = []
    recorder = BackgroundRecorder(recorded.append)
    for n in range(50):
        recorder.submit(n)
    assert recorder.drain(5)
    assert recorded == list(range(50))


def test_drain_waits_for_the_record_in_progress_and_says_when_it_ran_out() -> None:
    release = threading.Event()
    recorded: list[str] = []

    def slow(item: str) -> None:
        release.wait(5)
        recorded.append(item)

    recorder = BackgroundRecorder(slow)
    recorder.submit("a")
    recorder.submit("b")
    assert not recorder.drain(0.2)
    assert recorded == []
    release.set()
    assert recorder.drain(5)
    assert recorded == ["a", "b"]


def test_a_full_queue_holds_the_submitter_back() -> None:
    release = threading.Event()
    recorder = BackgroundRecorder(lambda item: release.wait(5), limit=2)
    for n in range(3):  # one being recorded, two queued
        recorder.submit(n)
    fourth = threading.Thread(target=recorder.submit, args=(3,), daemon=True)
    fourth.start()
    fourth.join(0.3)
    assert fourth.is_alive()  # waiting for room
    release.set()
    fourth.join(5)
    assert not fourth.is_alive()
    assert recorder.drain(5)


def test_a_record_that_raises_is_logged_and_the_next_one_still_runs(caplog) -> None:
    recorded: list[int] = []

    def record(item: int) -> None:
        if item == 1:
            raise RuntimeError("boom")
        recorded.append(item)

    recorder = BackgroundRecorder(record)
    with caplog.at_level(logging.ERROR, logger="doiflow.runner"):
        for n in range(3):
            recorder.submit(n)
        assert recorder.drain(5)
    assert recorded == [0, 2]
    assert [r.message for r in caplog.records] == ["recording failed"]


def test_each_record_runs_with_the_log_fields_of_its_submitter() -> None:
    seen: list[object] = []
    recorder = BackgroundRecorder(
        lambda item: seen.append(structlog.contextvars.get_contextvars().get("intent_id"))
    )
    for intent_id in (7, 8):
        with structlog.contextvars.bound_contextvars(intent_id=intent_id):
            recorder.submit(intent_id)
    recorder.submit(None)
    assert recorder.drain(5)
    assert seen == [7, 8, None]


def test_several_threads_record_side_by_side() -> None:
    # Given two threads, and a record that waits until two records run at once
    both = threading.Barrier(2, timeout=5)
    recorded: list[int] = []
    recorder = BackgroundRecorder(lambda item: (both.wait(), recorded.append(item)), threads=2)
    recorder.submit(1)
    recorder.submit(2)
    # Then both finish: one thread alone would have waited at the barrier until it broke
    assert recorder.drain(5)
    assert sorted(recorded) == [1, 2]
