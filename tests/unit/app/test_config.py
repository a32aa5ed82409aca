"""Settings from the environment: defaults, validation naming the variable, redaction."""

from __future__ import annotations

import pytest

from app.config import ConfigError, load_settings, redact_url

BASE = {"DATABASE_URL": "postgres://doiflow:pw@db.example:5432/doiflow"}
DATACITE = {
    "DATACITE_API_URL": "https://api.test.datacite.org/",
    "DATACITE_USER": "REPO.ID",
    "DATACITE_PASSWORD": "hunter2",
    "DATACITE_PREFIX": "10.80507",
}


def test_heroku_database_url_is_normalised_for_psycopg() -> None:
    settings = load_settings(BASE)
    assert settings.database_url == "postgresql+psycopg://doiflow:pw@db.example:5432/doiflow"


def test_defaults_keep_publishing_off_and_datacite_unconfigured() -> None:
    settings = load_settings(BASE)
    assert settings.doi_publish is False
    assert settings.datacite_configured is False


def test_datacite_configured_when_all_four_are_set() -> None:
    settings = load_settings({**BASE, **DATACITE})
    assert settings.datacite_configured
    assert settings.datacite_api_url == "https://api.test.datacite.org"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "DATABASE_URL"),
        ({**BASE, "DOI_PUBLISH": "maybe"}, "DOI_PUBLISH"),
        ({**BASE, "DATACITE_USER": "REPO.ID"}, "DATACITE_API_URL"),
        ({**BASE, **DATACITE, "DATACITE_PREFIX": "11.1"}, "DATACITE_PREFIX"),
        ({**BASE, "PORT": "eighty"}, "PORT"),
        ({**BASE, "LANDING_URL_TEMPLATE": "https://x.org/"}, "LANDING_URL_TEMPLATE"),
        ({**BASE, "DOI_INSTANCE": "bad instance"}, "DOI_INSTANCE"),
        ({**BASE, "DOI_MAX_ATTEMPTS": "0"}, "DOI_MAX_ATTEMPTS"),
        # Malformed URLs fail at start-up, not on every delivery.
        ({**BASE, **DATACITE, "DATACITE_API_URL": "ftp://api.datacite.org"}, "DATACITE_API_URL"),
        ({**BASE, **DATACITE, "DATACITE_API_URL": "https://"}, "DATACITE_API_URL"),
        ({**BASE, **DATACITE, "DATACITE_API_URL": "api.datacite.org"}, "DATACITE_API_URL"),
        ({**BASE, **DATACITE, "DATACITE_API_URL": "https://u:p@x.org"}, "DATACITE_API_URL"),
        ({**BASE, **DATACITE, "DATACITE_API_URL": "https://x.org:99999"}, "DATACITE_API_URL"),
        ({**BASE, "LANDING_URL_TEMPLATE": "/datasets/{dataset}"}, "LANDING_URL_TEMPLATE"),
        ({**BASE, "LANDING_URL_TEMPLATE": "https://x.org/{dataset}/{doi}"}, "LANDING_URL_TEMPLATE"),
        ({**BASE, "LANDING_URL_TEMPLATE": "https://x.org/{dataset"}, "LANDING_URL_TEMPLATE"),
        ({**BASE, "TOMBSTONE_URL_TEMPLATE": "https://x.org/gone"}, "TOMBSTONE_URL_TEMPLATE"),
        ({**BASE, "TOMBSTONE_URL_TEMPLATE": "gone/{dataset}"}, "TOMBSTONE_URL_TEMPLATE"),
        (
            {**BASE, "TOMBSTONE_URL_TEMPLATE": "https://x/{dataset}/{oops}"},
            "TOMBSTONE_URL_TEMPLATE",
        ),
        ({**BASE, "HEALTH_LAG_SECONDS": "soon"}, "HEALTH_LAG_SECONDS"),
        ({**BASE, "HOLD_CONCURRENCY": "0"}, "HOLD_CONCURRENCY"),
        ({**BASE, "HOLD_BATCH_SIZE": "many"}, "HOLD_BATCH_SIZE"),
    ],
)
def test_bad_settings_fail_naming_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_settings(env)


def test_holds_are_off_without_a_bucket_and_their_limits_have_defaults() -> None:
    settings = load_settings(BASE)
    assert (settings.s3_configured, settings.hold_concurrency, settings.hold_batch_size) == (
        False,
        8,
        50,
    )
    settings = load_settings({**BASE, "S3_BUCKET": "archive-data", "HOLD_CONCURRENCY": "32"})
    assert (settings.s3_configured, settings.hold_concurrency) == (True, 32)


def test_secrets_never_appear_in_repr_or_redacted_view() -> None:
    settings = load_settings({**BASE, **DATACITE, "SECRET_KEY": "s3cr3t-key"})
    shown = f"{settings!r} {settings.redacted()}"
    for secret in ("hunter2", "s3cr3t-key", ":pw@"):
        assert secret not in shown
    assert settings.redacted()["datacite_password"] == "***"


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("rediss://:tok@cache.example:6380/0") == "rediss://:***@cache.example:6380/0"
    assert redact_url("redis://localhost:6379/0") == "redis://localhost:6379/0"


S3 = {
    "S3_BUCKET": "archive-blobs",
    "S3_ENDPOINT_URL": "http://127.0.0.1:8333/",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI-secret",
    "AWS_REGION": "eu-west-1",
}


def test_s3_settings_are_read_with_the_aws_variables() -> None:
    settings = load_settings({**BASE, **S3})
    assert settings.s3_bucket == "archive-blobs"
    assert settings.s3_endpoint_url == "http://127.0.0.1:8333"
    assert settings.aws_access_key_id == "AKIAEXAMPLE"
    assert settings.aws_secret_access_key == "wJalrXUtnFEMI-secret"
    assert settings.aws_region == "eu-west-1"


def test_s3_is_unset_by_default_and_aws_default_region_is_a_fallback() -> None:
    assert load_settings(BASE).s3_bucket is None
    assert load_settings(BASE).aws_access_key_id is None
    assert load_settings({**BASE, "AWS_DEFAULT_REGION": "us-west-2"}).aws_region == "us-west-2"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"}, "AWS_SECRET_ACCESS_KEY"),
        ({"AWS_SECRET_ACCESS_KEY": "secret"}, "AWS_ACCESS_KEY_ID"),
        ({"S3_BUCKET": "Not_A_Bucket"}, "S3_BUCKET"),
        ({"S3_BUCKET": "ab"}, "S3_BUCKET"),
        ({"S3_ENDPOINT_URL": "127.0.0.1:8333"}, "S3_ENDPOINT_URL"),
        ({"S3_ENDPOINT_URL": "https://key:secret@s3.example.org"}, "S3_ENDPOINT_URL"),
    ],
)
def test_bad_s3_settings_fail_naming_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable) as raised:
        load_settings({**BASE, **env})
    assert "secret" not in str(raised.value).replace("AWS_SECRET", "")


def test_aws_secret_never_appears_in_repr_or_redacted_view() -> None:
    settings = load_settings({**BASE, **S3})
    shown = f"{settings!r} {settings.redacted()}"
    assert "wJalrXUtnFEMI-secret" not in shown
    assert settings.redacted()["aws_secret_access_key"] == "***"


def test_url_templates_with_their_placeholders_are_accepted() -> None:
    settings = load_settings(
        {
            **BASE,
            "LANDING_URL_TEMPLATE": "https://archive.org/ds/{dataset}/v/{version}",
            "TOMBSTONE_URL_TEMPLATE": "https://archive.org/gone/{dataset}?doi={doi}",
        }
    )
    assert settings.tombstone_url_template == "https://archive.org/gone/{dataset}?doi={doi}"


@pytest.mark.parametrize(
    "url", ["nonsense", "mysql://u:pw@db.example/doiflow", "postgresql://db:abc/x", "http://x"]
)
def test_a_malformed_database_url_names_what_is_accepted(url: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({"DATABASE_URL": url})
    message = str(refused.value)
    assert message.startswith("DATABASE_URL must be a PostgreSQL URL such as postgresql://")
    assert "sqlite:///" in message
    assert "pw" not in message  # a password in a refused URL is not echoed


def test_a_postgres_url_without_a_database_is_refused() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL must name a database"):
        load_settings({"DATABASE_URL": "postgresql://db.example/"})


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///var/doiflow.db", "postgresql:///doiflow"])
def test_embedded_and_socket_database_urls_are_accepted(url: str) -> None:
    assert load_settings({"DATABASE_URL": url}).database_url.split(":")[0] in (
        "sqlite",
        "postgresql+psycopg",
    )


@pytest.mark.parametrize(
    "url", ["http://x", "redis://:6379/0", "redis://host/zero", "redis://host:port/0", "x"]
)
def test_a_malformed_redis_url_names_what_is_accepted(url: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({**BASE, "REDIS_URL": url})
    assert str(refused.value).startswith("REDIS_URL must be a redis:// or rediss:// URL")


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "rediss://:pw@cache.example", "redis://h"]
)
def test_redis_and_rediss_urls_are_accepted(url: str) -> None:
    assert load_settings({**BASE, "REDIS_URL": url}).redis_url == url
