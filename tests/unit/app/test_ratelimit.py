"""The in-process token bucket and rate-limit parsing."""

from __future__ import annotations

import pytest

from app.config import ConfigError, Limit, load_settings, parse_limit
from app.ratelimit import LocalTokenBucket


def test_parse_limit() -> None:
    assert parse_limit("X", "750/300s") == Limit(750, 300)


def test_settings_hold_the_parsed_limit() -> None:
    env = {"DATABASE_URL": "sqlite://", "DATACITE_RATE_LIMIT": "750/300s"}
    assert load_settings(env).datacite_rate_limit == Limit(750, 300)
    assert load_settings({"DATABASE_URL": "sqlite://"}).datacite_rate_limit == Limit(3000, 300)
    with pytest.raises(ConfigError, match="DATACITE_RATE_LIMIT"):
        load_settings({**env, "DATACITE_RATE_LIMIT": "fast"})


@pytest.mark.parametrize("text", ["750", "750/300", "0/300s", "a/bs", "750/0s"])
def test_parse_limit_refuses_nonsense_naming_the_variable(text: str) -> None:
    with pytest.raises(ConfigError, match="DATACITE_RATE_LIMIT"):
        parse_limit("DATACITE_RATE_LIMIT", text)


def test_local_bucket_grants_capacity_then_asks_to_wait() -> None:
    bucket = LocalTokenBucket(Limit(2, 60))
    assert [bucket.take(), bucket.take()] == [0.0, 0.0]
    assert 29 < bucket.take() <= 30
