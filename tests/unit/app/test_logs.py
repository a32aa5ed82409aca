"""The one log setup: JSON lines with `extra` rendered, context bound once, secrets scrubbed."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from app import logs


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    logs.configure("json", "INFO", secrets=["s3cr3t-password"], stream=stream)
    yield stream
    root.handlers, root.level = saved[0], saved[1]


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_extra_fields_and_bound_context_are_rendered(captured: io.StringIO) -> None:
    log = logging.getLogger("doiflow.test")
    with logs.bound(intent_id=7, topic="sync_doi"), logs.bound(doi="10.1/x"):
        log.warning("datacite request", extra={"status": 422, "titles": ["bad"]})
    log.info("outside")
    inside, outside = _lines(captured)
    assert inside["event"] == "datacite request"
    assert (inside["intent_id"], inside["doi"], inside["status"]) == (7, "10.1/x", 422)
    assert (inside["level"], inside["logger"]) == ("warning", "doiflow.test")
    assert "timestamp" in inside
    assert "intent_id" not in outside  # the context ends with its block


def test_a_configured_secret_never_leaves_in_a_line(captured: io.StringIO) -> None:
    log = logging.getLogger("doiflow.test")
    log.error("oops s3cr3t-password", extra={"url": "https://u:s3cr3t-password@x", "n": [1]})
    try:
        raise RuntimeError("token s3cr3t-password")
    except RuntimeError:
        log.exception("failed")
    text = captured.getvalue()
    assert "s3cr3t-password" not in text
    assert text.count("***") >= 3


def test_text_format_and_a_bad_format_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(logs.formatter("text"), logging.Formatter)
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logs.configure_from_environment()
