"""Retry-After parsing (RFC 9110, section 10.2.3): pure, no HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.clients.retry_after import MAX_RETRY_AFTER, parse_retry_after

NOW = datetime(1994, 11, 6, 8, 49, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("2", 2.0),
        ("120", 120.0),
        (" 30 ", 30.0),
        ("007", 7.0),
    ],
)
def test_delay_seconds(value: str, expected: float) -> None:
    assert parse_retry_after(value, now=NOW) == expected


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate, the preferred form
        "Sunday, 06-Nov-94 08:49:37 GMT",  # obsolete RFC 850 form
        "Sun Nov  6 08:49:37 1994",  # obsolete asctime form (no zone: GMT)
    ],
)
def test_http_date_forms_are_relative_to_now(value: str) -> None:
    assert parse_retry_after(value, now=NOW) == 37.0


def test_http_date_with_numeric_offset_is_converted_to_utc() -> None:
    assert parse_retry_after("Sun, 06 Nov 1994 10:49:37 +0200", now=NOW) == 37.0


def test_http_date_in_the_past_means_now_never_negative() -> None:
    assert parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now=NOW) == 0.0


def test_http_date_defaults_to_the_current_time() -> None:
    later = datetime.now(UTC) + timedelta(seconds=60)
    seconds = parse_retry_after(later.strftime("%a, %d %b %Y %H:%M:%S GMT"))
    assert seconds is not None
    assert 55.0 <= seconds <= 60.0


def test_naive_now_is_taken_as_utc() -> None:
    naive = NOW.replace(tzinfo=None)
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now=naive) == 37.0


def test_aware_now_in_another_zone_is_converted() -> None:
    plus_two = NOW.astimezone(timezone(timedelta(hours=2)))
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now=plus_two) == 37.0


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "-5",  # delay-seconds is 1*DIGIT: no sign
        "1.5",  # ... and no fraction
        "5s",
        "²",  # a Unicode digit, not an ASCII one
        "soon",
        "Sun, 99 Foo 1994 08:49:37 GMT",
        "Sun, 31 Feb 1994 08:49:37 GMT",
        "Sun, 06 Nov 99999 08:49:37 GMT",
    ],
)
def test_absent_or_unparseable_is_none(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


def test_huge_delay_is_capped() -> None:
    assert parse_retry_after("99999999999999999999", now=NOW) == MAX_RETRY_AFTER


def test_far_future_date_is_capped() -> None:
    assert parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT", now=NOW) == MAX_RETRY_AFTER
