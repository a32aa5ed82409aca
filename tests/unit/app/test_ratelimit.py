"""The in-process token bucket and rate-limit parsing."""

from __future__ import annotations

import pytest

from app import ratelimit
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


def test_local_bucket_grants_capacity_then_reserves_slots_then_asks_to_wait(monkeypatch) -> None:
    monkeypatch.setattr(ratelimit, "RESERVE_AHEAD_SECONDS", 60)  # debt: 2 tokens
    bucket = LocalTokenBucket(Limit(2, 60))  # a token every 30 s, two at once
    assert [bucket.take().wait, bucket.take().wait] == [0.0, 0.0]
    # Empty: each caller is given the next free token, a slot of its own
    third, fourth = bucket.take(), bucket.take()
    assert third.reserved
    assert 29 < third.wait <= 30
    assert fourth.reserved
    assert 59 < fourth.wait <= 60
    # The debt is bounded to one window: beyond it, come back later, nothing reserved
    fifth = bucket.take()
    assert not fifth.reserved
    assert 29 < fifth.wait <= 30


def test_our_burst_leaves_datacite_a_fifth_of_its_own() -> None:
    # DataCite's bucket then stays ahead of ours: requests that bunch on the way meet a
    # token there, not a 429. Small limits keep their whole burst (whole tokens only).
    assert ratelimit.burst(Limit(3000, 300)) == 2400
    assert ratelimit.burst(Limit(10, 1)) == 8
    assert ratelimit.burst(Limit(2, 600)) == 2
    bucket = LocalTokenBucket(Limit(10, 1))
    grants = [bucket.take() for _ in range(9)]
    assert [g.wait for g in grants[:8]] == [0.0] * 8
    assert grants[8].reserved
