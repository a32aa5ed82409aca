"""Secret-looking fields hidden in documents; configured secrets scrubbed from pages."""

from __future__ import annotations

from app.admin.redact import configured_secrets, redact, scrub
from app.config import load_settings


def test_secret_looking_keys_are_hidden_at_any_depth() -> None:
    document = {
        "doi_id": 4,
        "password": "p",
        "nested": [{"api_key": "k", "token": None, "keep": "v"}],
        "Authorization": "Bearer x",
    }
    assert redact(document) == {
        "doi_id": 4,
        "password": "***",
        "nested": [{"api_key": "***", "token": None, "keep": "v"}],
        "Authorization": "***",
    }


def test_configured_secrets_are_scrubbed_longest_first() -> None:
    settings = load_settings(
        {
            "DATABASE_URL": "sqlite://",
            "SECRET_KEY": "abcdefgh-long",
            "DATACITE_API_URL": "https://api.test.datacite.org",
            "DATACITE_USER": "REPO.ID",
            "DATACITE_PASSWORD": "abcdefgh",
            "DATACITE_PREFIX": "10.80507",
        }
    )
    secrets = configured_secrets(settings)
    assert secrets == ["abcdefgh-long", "abcdefgh"]
    assert scrub("key abcdefgh-long pw abcdefgh", secrets) == "key *** pw ***"
