"""Settings from the environment (12-factor, Heroku names), validated at start-up."""

from __future__ import annotations

import os
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})
SECRET_FIELDS = frozenset(
    {"secret_key", "datacite_password", "aws_secret_access_key", "archive_webhook_secret"}
)


LIMIT_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*s\s*$")


# Every environment variable doiflow reads (a test keeps this, the code and the README
# in step; test harnesses strip exactly these from the environment they pass on).
VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "PORT",
    "SECRET_KEY",
    "DATACITE_API_URL",
    "DATACITE_USER",
    "DATACITE_PASSWORD",
    "DATACITE_PREFIX",
    "DATACITE_READ_TIMEOUT",
    "DATACITE_WRITE_GRACE_SECONDS",
    "DATACITE_RATE_LIMIT",
    "DOI_PUBLISH",
    "DOI_INSTANCE",
    "DOI_MAX_ATTEMPTS",
    "DOI_MAX_AGE_SECONDS",
    "LANDING_URL_TEMPLATE",
    "TOMBSTONE_URL_TEMPLATE",
    "RETRY_BASE_SECONDS",
    "RETRY_CAP_SECONDS",
    "LEASE_SECONDS",
    "RELAY_POLL_SECONDS",
    "RELAY_BATCH_SIZE",
    "RELAY_MAX_IN_FLIGHT",
    "HEALTH_LAG_SECONDS",
    "HEALTH_STUCK_SECONDS",
    "HEALTH_SILENT_SECONDS",
    "OUTBOX_RETENTION",
    "CLOCK_TAKEOVER_SECONDS",
    "CLOCK_SCHEDULES",
    "S3_BUCKET",
    "S3_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "HOLD_CONCURRENCY",
    "HOLD_BATCH_SIZE",
    "ADMIN_ENABLED",
    "ADMIN_SNAPSHOT_SECONDS",
    "STASH_RETENTION_SECONDS",
    "LOG_FORMAT",
    "LOG_LEVEL",
    "MAX_CONTENT_LENGTH",
    "METADATA_MAX_BYTES",
    "VERSION_MAX_BLOBS",
    "ARCHIVE_WEBHOOK_URL",
    "ARCHIVE_WEBHOOK_SECRET",
    "ARCHIVE_WEBHOOK_MAX_ATTEMPTS",
    "ARCHIVE_WEBHOOK_TIMEOUT",
    "PROMETHEUS_MULTIPROC_DIR",
    "WORKER_METRICS_ADDRESS",
)


class ConfigError(ValueError):
    """A required setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Limit:
    """`count` requests per `seconds`."""

    count: int
    seconds: int

    @property
    def rate(self) -> float:
        return self.count / self.seconds


def parse_limit(name: str, text: str) -> Limit:
    """`3000/300s` → Limit(3000, 300)."""
    match = LIMIT_PATTERN.match(text)
    if match is None or int(match[1]) < 1 or int(match[2]) < 1:
        raise ConfigError(f"{name} must look like 3000/300s (requests per seconds), not {text!r}")
    return Limit(int(match[1]), int(match[2]))


@dataclass(frozen=True)
class RetryPolicy:
    """How transient DataCite failures are retried (the state lives in Postgres)."""

    max_attempts: int = 8
    max_age_seconds: float = 2 * 24 * 3600
    base_seconds: float = 2.0
    cap_seconds: float = 600.0


@dataclass(frozen=True, repr=False)
class Settings:
    """Everything a doiflow process needs to know, read once at start-up."""

    database_url: str
    redis_url: str | None = None
    port: int = 5000
    secret_key: str = field(default="", repr=False)
    datacite_api_url: str | None = None
    datacite_user: str | None = None
    datacite_password: str | None = field(default=None, repr=False)
    datacite_prefix: str | None = None
    doi_publish: bool = False
    doi_instance: str = "doiflow"
    landing_url_template: str = "http://localhost:5000/datasets/{dataset}/{version}"
    tombstone_url_template: str | None = None
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = field(default=None, repr=False)
    aws_region: str | None = None
    hold_concurrency: int = 8  # S3 calls in flight from the holds queue, across all workers
    hold_batch_size: int = 50  # blob versions per verify or hold intent
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    lease_seconds: float = 15.0
    datacite_read_timeout: float = 30.0
    # A write whose answer was lost may still be applied this long after doiflow stopped
    # waiting for it (DataCite still working on it): the look that decides waits for it.
    datacite_write_grace_seconds: float = 15.0
    relay_batch_size: int = 500
    relay_poll_seconds: float = 1.0
    relay_max_in_flight: int = 1000
    datacite_rate_limit: Limit = Limit(3000, 300)  # DataCite production; its test system: 750
    health_lag_seconds: float = 300.0  # the oldest due intent waited longer: relay down?
    health_stuck_seconds: float = 3600.0  # an intent open longer: throttled, or no worker
    health_silent_seconds: float = 300.0  # intents enqueued and no delivery finished since
    admin_enabled: bool = True  # the /admin pages (they need a real SECRET_KEY)
    admin_snapshot_seconds: float = 30.0  # the dashboard's counts are at most this old
    # Request limits (413 beyond them): a whole body, one metadata document, one version.
    max_content_length: int = 2 * 1024 * 1024
    metadata_max_bytes: int = 256 * 1024
    version_max_blobs: int = 10_000
    # How long a stash (the DataCite record taken before a DELETE or hide) is kept, and so
    # how long a deleted dataset or version can be restored.
    stash_retention_seconds: float = 30 * 24 * 3600.0
    outbox_retention_seconds: float = 7 * 24 * 3600.0  # done intents older are pruned
    clock_takeover_seconds: float = 10.0  # a standby clock leads within this after a death
    # Schedule overrides, name -> spec ("30s", "daily 02:30", "weekly sun 03:00", "off").
    clock_schedules: tuple[tuple[str, str], ...] = ()
    # Events posted to the archive (job finished/failed, DOI at target/failed, hold failed).
    archive_webhook_url: str | None = None
    archive_webhook_secret: str | None = field(default=None, repr=False)
    # Tries per event before it fails (the runner's backoff, RETRY_BASE/CAP_SECONDS): 20
    # tries ride out an archive down for about an hour.
    archive_webhook_max_attempts: int = 20
    archive_webhook_timeout: float = 10.0
    # `host:port` of the worker host's metrics server (needs PROMETHEUS_MULTIPROC_DIR).
    worker_metrics_address: str | None = None

    @property
    def datacite_configured(self) -> bool:
        """True when DOIs can be minted: every DataCite variable is set."""
        return self.datacite_api_url is not None

    @property
    def s3_configured(self) -> bool:
        """True when published blobs get legal holds: S3_BUCKET is set."""
        return self.s3_bucket is not None

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.redacted().items())
        return f"Settings({shown})"

    def redacted(self) -> dict[str, object]:
        """The settings as a dict safe to log or show: secrets and URL passwords hidden."""
        shown: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS:
                value = "***" if value else value
            elif isinstance(value, str) and "://" in value:
                value = redact_url(value)
            shown[f.name] = value
        return shown


def redact_url(url: str) -> str:
    """Hide the password in a URL such as postgres://user:pw@host/db."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def normalise_database_url(url: str) -> str:
    """Heroku says postgres://; SQLAlchemy wants postgresql+psycopg://."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


DATABASE_URL_ACCEPTED = (
    "a PostgreSQL URL such as postgresql://user:password@host:5432/doiflow "
    "(Heroku's postgres:// too), or sqlite:///path/to/file.db for the embedded default"
)
DATABASE_DRIVERS = ("postgresql+psycopg", "sqlite")


def check_database_url(url: str) -> str:
    """The normalised DATABASE_URL; ConfigError naming what is accepted for anything else."""
    normalised = normalise_database_url(url.strip())
    try:
        parsed = make_url(normalised)
        parsed.port  # noqa: B018 - a port that is not a number raises here
    except (ArgumentError, ValueError):
        parsed = None
    if parsed is None or parsed.drivername not in DATABASE_DRIVERS:
        raise ConfigError(f"DATABASE_URL must be {DATABASE_URL_ACCEPTED}, not {redact_url(url)!r}")
    if parsed.drivername != "sqlite" and not parsed.database:
        raise ConfigError(f"DATABASE_URL must name a database ({DATABASE_URL_ACCEPTED})")
    return normalised


REDIS_URL_ACCEPTED = "a redis:// or rediss:// URL such as redis://host:6379/0"


def check_redis_url(url: str | None) -> str | None:
    """REDIS_URL as given, or None; ConfigError naming what is accepted when malformed."""
    if url is None:
        return None
    parts = urlsplit(url.strip())
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    database = parts.path.lstrip("/")
    if (
        parts.scheme not in ("redis", "rediss")
        or not parts.hostname
        or not port_ok
        or not (database == "" or database.isdigit())
    ):
        raise ConfigError(f"REDIS_URL must be {REDIS_URL_ACCEPTED}, not {redact_url(url)!r}")
    return url.strip()


def parse_bool(name: str, raw: str | None, default: bool) -> bool:
    """Read a boolean variable, refusing anything ambiguous."""
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def parse_number(name: str, raw: str | None, default: float, *, minimum: float = 0) -> float:
    """Read a non-negative number variable."""
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {raw!r}")
    return value


DURATION_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(name: str, raw: str | None, default: float) -> float:
    """`7d`, `12h`, `30m`, `45s` or plain seconds → seconds."""
    if raw is None or raw.strip() == "":
        return default
    match = DURATION_PATTERN.match(raw.lower())
    if match is None:
        raise ConfigError(f"{name} must be a duration such as 7d, 12h, 30m or 3600, not {raw!r}")
    return float(match[1]) * DURATION_UNITS[match[2]]


def parse_schedules(raw: str | None) -> tuple[tuple[str, str], ...]:
    """`CLOCK_SCHEDULES=prune_outbox=30m,verify_holds=off` → ((name, spec), …).

    Only the form is checked here; `app.schedules` checks names and specs at the clock's
    start (it knows the registry).
    """
    found: list[tuple[str, str]] = []
    for item in (raw or "").split(","):
        if not item.strip():
            continue
        name, sep, spec = item.partition("=")
        if not sep or not name.strip() or not spec.strip():
            raise ConfigError(
                f"CLOCK_SCHEDULES must look like name=spec,name=spec (e.g. "
                f"prune_outbox=30m,verify_holds=off), not {item.strip()!r}"
            )
        found.append((name.strip(), spec.strip().lower()))
    return tuple(found)


def load_settings(env: Mapping[str, str] | None = None, /, **defaults: str) -> Settings:
    """Build Settings from the environment; `defaults` fill variables that are unset."""
    source = {**defaults, **(os.environ if env is None else env)}
    get = source.get

    database_url = get("DATABASE_URL")
    if not database_url:
        raise ConfigError("DATABASE_URL is required (e.g. postgresql://user@host/doiflow)")

    datacite = _load_datacite(source)
    landing = check_url_template(
        "LANDING_URL_TEMPLATE", get("LANDING_URL_TEMPLATE") or Settings.landing_url_template
    )
    tombstone = get("TOMBSTONE_URL_TEMPLATE") or None
    if tombstone is not None:
        check_url_template("TOMBSTONE_URL_TEMPLATE", tombstone)
    defaults_retry = RetryPolicy()
    retry = RetryPolicy(
        max_attempts=int(
            parse_number(
                "DOI_MAX_ATTEMPTS", get("DOI_MAX_ATTEMPTS"), defaults_retry.max_attempts, minimum=1
            )
        ),
        max_age_seconds=parse_number(
            "DOI_MAX_AGE_SECONDS", get("DOI_MAX_AGE_SECONDS"), defaults_retry.max_age_seconds
        ),
        base_seconds=parse_number(
            "RETRY_BASE_SECONDS", get("RETRY_BASE_SECONDS"), defaults_retry.base_seconds
        ),
        cap_seconds=parse_number(
            "RETRY_CAP_SECONDS", get("RETRY_CAP_SECONDS"), defaults_retry.cap_seconds
        ),
    )
    webhook_url, webhook_secret, webhook_attempts, webhook_timeout = _load_webhook(source)
    settings = Settings(
        database_url=check_database_url(database_url),
        redis_url=check_redis_url(get("REDIS_URL") or None),
        port=int(parse_number("PORT", get("PORT"), 5000, minimum=1)),
        secret_key=get("SECRET_KEY", ""),
        **datacite,
        doi_publish=parse_bool("DOI_PUBLISH", get("DOI_PUBLISH"), False),
        doi_instance=_load_instance(get("DOI_INSTANCE")),
        landing_url_template=landing,
        tombstone_url_template=tombstone,
        **_load_s3(source),
        hold_concurrency=int(
            parse_number("HOLD_CONCURRENCY", get("HOLD_CONCURRENCY"), 8, minimum=1)
        ),
        hold_batch_size=int(parse_number("HOLD_BATCH_SIZE", get("HOLD_BATCH_SIZE"), 50, minimum=1)),
        retry=retry,
        lease_seconds=parse_number("LEASE_SECONDS", get("LEASE_SECONDS"), 15.0, minimum=1),
        datacite_read_timeout=parse_number(
            "DATACITE_READ_TIMEOUT", get("DATACITE_READ_TIMEOUT"), 30.0, minimum=0.1
        ),
        datacite_write_grace_seconds=parse_number(
            "DATACITE_WRITE_GRACE_SECONDS", get("DATACITE_WRITE_GRACE_SECONDS"), 15.0
        ),
        relay_batch_size=int(
            parse_number("RELAY_BATCH_SIZE", get("RELAY_BATCH_SIZE"), 500, minimum=1)
        ),
        datacite_rate_limit=parse_limit(
            "DATACITE_RATE_LIMIT", get("DATACITE_RATE_LIMIT") or "3000/300s"
        ),
        relay_max_in_flight=int(
            parse_number("RELAY_MAX_IN_FLIGHT", get("RELAY_MAX_IN_FLIGHT"), 1000, minimum=1)
        ),
        relay_poll_seconds=parse_number(
            "RELAY_POLL_SECONDS", get("RELAY_POLL_SECONDS"), 1.0, minimum=0.05
        ),
        health_lag_seconds=parse_number("HEALTH_LAG_SECONDS", get("HEALTH_LAG_SECONDS"), 300.0),
        health_stuck_seconds=parse_number(
            "HEALTH_STUCK_SECONDS", get("HEALTH_STUCK_SECONDS"), 3600.0
        ),
        health_silent_seconds=parse_number(
            "HEALTH_SILENT_SECONDS", get("HEALTH_SILENT_SECONDS"), 300.0
        ),
        admin_enabled=parse_bool("ADMIN_ENABLED", get("ADMIN_ENABLED"), True),
        admin_snapshot_seconds=parse_number(
            "ADMIN_SNAPSHOT_SECONDS", get("ADMIN_SNAPSHOT_SECONDS"), 30.0
        ),
        max_content_length=_whole("MAX_CONTENT_LENGTH", get, Settings.max_content_length),
        metadata_max_bytes=_whole("METADATA_MAX_BYTES", get, Settings.metadata_max_bytes),
        version_max_blobs=_whole("VERSION_MAX_BLOBS", get, Settings.version_max_blobs),
        stash_retention_seconds=parse_number(
            "STASH_RETENTION_SECONDS", get("STASH_RETENTION_SECONDS"), 30 * 24 * 3600.0
        ),
        outbox_retention_seconds=parse_duration(
            "OUTBOX_RETENTION", get("OUTBOX_RETENTION"), 7 * 24 * 3600.0
        ),
        clock_takeover_seconds=parse_number(
            "CLOCK_TAKEOVER_SECONDS", get("CLOCK_TAKEOVER_SECONDS"), 10.0, minimum=1
        ),
        clock_schedules=parse_schedules(get("CLOCK_SCHEDULES")),
        archive_webhook_url=webhook_url,
        archive_webhook_secret=webhook_secret,
        archive_webhook_max_attempts=webhook_attempts,
        archive_webhook_timeout=webhook_timeout,
        worker_metrics_address=_load_metrics_address(source),
    )
    return settings


def _whole(name: str, get: Callable[[str], str | None], default: int) -> int:
    """A whole-number variable of at least 1 (the request limits)."""
    value = parse_number(name, get(name), default, minimum=1)
    if value != int(value):
        raise ConfigError(f"{name} must be a whole number, not {get(name)!r}")
    return int(value)


ADDRESS_PATTERN = re.compile(r"^[A-Za-z0-9.:\[\]-]+:\d{1,5}$")


def _load_metrics_address(source: Mapping[str, str]) -> str | None:
    """WORKER_METRICS_ADDRESS `host:port`; it serves PROMETHEUS_MULTIPROC_DIR's figures."""
    address = source.get("WORKER_METRICS_ADDRESS") or None
    if address is None:
        return None
    if not ADDRESS_PATTERN.match(address):
        raise ConfigError(f"WORKER_METRICS_ADDRESS must be host:port, not {address!r}")
    if not source.get("PROMETHEUS_MULTIPROC_DIR"):
        raise ConfigError(
            "WORKER_METRICS_ADDRESS needs PROMETHEUS_MULTIPROC_DIR: the worker processes "
            "write their figures there, the metrics server adds them up"
        )
    return address


def _load_webhook(source: Mapping[str, str]) -> tuple[str | None, str | None, int, float]:
    """The archive's webhook: a URL and the secret its bodies are signed with, both or none."""
    url = source.get("ARCHIVE_WEBHOOK_URL") or None
    secret = source.get("ARCHIVE_WEBHOOK_SECRET") or None
    if url is not None:
        check_http_url("ARCHIVE_WEBHOOK_URL", url, credentials_in="ARCHIVE_WEBHOOK_SECRET")
        if secret is None:
            raise ConfigError("ARCHIVE_WEBHOOK_SECRET is required with ARCHIVE_WEBHOOK_URL")
    attempts = parse_number(
        "ARCHIVE_WEBHOOK_MAX_ATTEMPTS", source.get("ARCHIVE_WEBHOOK_MAX_ATTEMPTS"), 20, minimum=1
    )
    timeout = parse_number(
        "ARCHIVE_WEBHOOK_TIMEOUT", source.get("ARCHIVE_WEBHOOK_TIMEOUT"), 10.0, minimum=0.1
    )
    return url, secret, int(attempts), timeout


DATACITE_VARIABLES = ("DATACITE_API_URL", "DATACITE_USER", "DATACITE_PASSWORD", "DATACITE_PREFIX")


def _load_datacite(source: Mapping[str, str]) -> dict[str, str | None]:
    """DataCite is configured all-or-nothing; half a configuration is an error."""
    values = {name: (source.get(name) or None) for name in DATACITE_VARIABLES}
    given = [name for name, value in values.items() if value]
    if given and len(given) != len(DATACITE_VARIABLES):
        missing = [name for name in DATACITE_VARIABLES if not values[name]]
        raise ConfigError(
            f"{', '.join(missing)} must be set too: DataCite is configured only when all of "
            f"{', '.join(DATACITE_VARIABLES)} are set"
        )
    prefix = values["DATACITE_PREFIX"]
    if prefix is not None and not _is_prefix(prefix):
        raise ConfigError(f"DATACITE_PREFIX must look like 10.12345, not {prefix!r}")
    api_url = values["DATACITE_API_URL"]
    if api_url is not None:
        check_http_url("DATACITE_API_URL", api_url, credentials_in="DATACITE_USER/_PASSWORD")
    return {
        "datacite_api_url": api_url.rstrip("/") if api_url else None,
        "datacite_user": values["DATACITE_USER"],
        "datacite_password": values["DATACITE_PASSWORD"],
        "datacite_prefix": prefix.lower() if prefix else None,
    }


BUCKET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
AWS_KEY_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def _load_s3(source: Mapping[str, str]) -> dict[str, str | None]:
    """S3 settings; the two AWS keys come as a pair (neither: boto3's own credential chain)."""
    bucket = source.get("S3_BUCKET") or None
    if bucket is not None and not BUCKET_PATTERN.match(bucket):
        raise ConfigError(f"S3_BUCKET must be a bucket name (3-63 of a-z 0-9 . -), not {bucket!r}")
    endpoint = source.get("S3_ENDPOINT_URL") or None
    if endpoint is not None:
        _check_endpoint_url(endpoint)
    keys = {name: source.get(name) or None for name in AWS_KEY_VARIABLES}
    if sum(value is not None for value in keys.values()) == 1:
        missing = next(name for name, value in keys.items() if value is None)
        raise ConfigError(f"{missing} must be set too: set both of {', '.join(AWS_KEY_VARIABLES)}")
    return {
        "s3_bucket": bucket,
        "s3_endpoint_url": endpoint.rstrip("/") if endpoint else None,
        "aws_access_key_id": keys["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": keys["AWS_SECRET_ACCESS_KEY"],
        "aws_region": source.get("AWS_REGION") or source.get("AWS_DEFAULT_REGION") or None,
    }


def _check_endpoint_url(url: str) -> None:
    """An http(s) URL without credentials: the keys belong in AWS_*, never in a logged URL."""
    check_http_url("S3_ENDPOINT_URL", url, credentials_in="AWS_* variables")


def check_http_url(name: str, url: str, *, credentials_in: str | None = None) -> None:
    """Refuse anything but an http(s) URL with a host (and, if asked, without credentials)."""
    parts = urlsplit(url)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ConfigError(
            f"{name} must be an http(s) URL with a host, such as https://example.org, "
            f"not {redact_url(url)!r}"
        )
    if credentials_in and (parts.username is not None or parts.password is not None):
        raise ConfigError(f"{name} must not contain credentials (use {credentials_in})")


# The placeholders each URL template may use; {dataset} is required in both.
TEMPLATE_FIELDS = {
    "LANDING_URL_TEMPLATE": ("dataset", "version"),
    "TOMBSTONE_URL_TEMPLATE": ("dataset", "version", "doi"),
}


def check_url_template(name: str, template: str) -> str:
    """A template that formats into an http(s) URL, using only its known placeholders."""
    allowed = TEMPLATE_FIELDS[name]
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as error:
        raise ConfigError(f"{name} is not a valid template ({error}): {template!r}") from None
    unknown = sorted(fields - set(allowed))
    if unknown:
        raise ConfigError(
            f"{name} may use only {{{'}, {'.join(allowed)}}}, not {{{'}, {'.join(unknown)}}}"
        )
    if "dataset" not in fields:
        raise ConfigError(f"{name} must contain {{dataset}}")
    check_http_url(name, template.format(**dict.fromkeys(allowed, "x")))
    return template


def _is_prefix(prefix: str) -> bool:
    head, _, number = prefix.partition(".")
    return head == "10" and number.isdigit() and 4 <= len(number) <= 9


def _load_instance(raw: str | None) -> str:
    instance = (raw or "doiflow").strip().lower()
    if not instance or not all(ch.isalnum() or ch in "-_" for ch in instance):
        raise ConfigError(f"DOI_INSTANCE must be letters, digits, - or _, not {raw!r}")
    return instance
