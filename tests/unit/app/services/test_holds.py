"""How a publication's holds are cut into `apply_hold` and `verify_blobs` batches."""

from __future__ import annotations

import pytest

from app.config import Settings, load_settings
from app.services.holds import batch_size


def _settings(concurrency: int, batch: int | None = None) -> Settings:
    env = {"DATABASE_URL": "sqlite:///unused.db", "HOLD_CONCURRENCY": str(concurrency)}
    if batch is not None:
        env["HOLD_BATCH_SIZE"] = str(batch)
    return load_settings(env)


@pytest.mark.parametrize(
    ("concurrency", "count", "expected"),
    [
        (1, 2000, 50),  # one slot: the largest batches
        (8, 2000, 50),  # 40 batches keep 8 slots busy to the end
        (32, 2000, 16),  # 125 batches: no slot idles while the last few run alone
        (32, 100, 10),  # never below ten a batch
        (8, 5, 10),  # a small version is one batch
    ],
)
def test_batches_are_cut_to_keep_every_slot_busy(
    concurrency: int, count: int, expected: int
) -> None:
    assert batch_size(_settings(concurrency), count) == expected


def test_hold_batch_size_stays_the_most() -> None:
    assert batch_size(_settings(32, batch=2), 2000) == 2
