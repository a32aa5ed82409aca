"""The relay's time limit per message: the default, or a long-reading topic's own."""

from __future__ import annotations

from app.config import load_settings
from app.topics import RECONCILE, SYNC_DOI
from workers.relay import _limit_of, delivery_time_limit_ms


def test_a_topic_with_its_own_time_limit_gets_it_and_the_others_the_default() -> None:
    settings = load_settings({"DATABASE_URL": "sqlite://", "DATACITE_READ_TIMEOUT": "30"})
    default = delivery_time_limit_ms(settings)
    assert default == 80_000  # a look and a write: 2 * (5 s connect + 30 s read) + 10 s
    assert _limit_of(SYNC_DOI, default) == default
    assert _limit_of(RECONCILE, default) == 6 * 3600 * 1000
