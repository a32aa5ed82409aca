"""Keeping secrets off the page: redacted documents, and a last scrub of every answer."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from app.config import Settings

HIDDEN = "***"
SECRET_NAMES = re.compile(
    r"pass(word|wd)?|secret|token|credential|authori[sz]ation|api[_-]?key|private", re.IGNORECASE
)
MIN_SECRET = 4  # shorter values would mask innocent text


def redact(value: Any) -> Any:
    """A copy of a JSON document with the values of secret-looking keys hidden."""
    if isinstance(value, dict):
        return {
            key: HIDDEN
            if SECRET_NAMES.search(str(key)) and item not in (None, "")
            else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def configured_secrets(settings: Settings) -> list[str]:
    """The secret values this process knows, longest first."""
    values: Iterable[str | None] = (
        settings.secret_key,
        settings.datacite_password,
        settings.aws_secret_access_key,
    )
    return sorted({v for v in values if v and len(v) >= MIN_SECRET}, key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every known secret value replaced by ***."""
    for secret in secrets:
        text = text.replace(secret, HIDDEN)
    return text
