"""One chaos run's knobs, the settings its processes get, and the names doiflow derives."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PREFIX = "10.80507"
INSTANCE = "chaos"
SANDBOX_USER = "CHAOS.REPO"
SANDBOX_PASSWORD = "chaos-secret"  # noqa: S105 - the local sandbox's throwaway account
LANDING_URL_TEMPLATE = "https://archive.example.org/datasets/{dataset}/{version}"
TOMBSTONE_URL_TEMPLATE = "https://archive.example.org/tombstone/{dataset}"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class ChaosConfig:
    """What one run does; the seed drives both the operations and the fault schedule."""

    operations: int = 150
    seed: int = 7
    clients: int = 4
    # Seconds the random operations are spread over; None: long enough for one full
    # round of the fault schedule (every targeted scenario and the worker outage).
    duration: float | None = None
    keep_logs: Path | None = None
    admin_url: str = DEFAULT_ADMIN_URL
    # A read timeout above the 1.5 s latency the races use (so the slow call succeeds),
    # a lease above the read timeout (doiflow refuses anything else).
    lease_seconds: float = 4.0
    read_timeout: float = 2.5
    max_attempts: int = 5
    settle_timeout: float = 90.0
    worker_threads: int = 4

    @property
    def spread_seconds(self) -> float:
        """How long the clients take for their operations."""
        if self.duration is not None:
            return self.duration
        return max(100.0, self.operations * 0.55)

    @property
    def outage_seconds(self) -> float:
        """A doi-worker outage long enough for every waiting intent's lease to expire
        DOI_MAX_ATTEMPTS times (the relay stays up and keeps rescuing them)."""
        return (self.max_attempts + 1) * self.lease_seconds + 2

    def process_settings(self) -> dict[str, str]:
        """The doiflow variables every process starts with (DataCite and URLs added later)."""
        return {
            "SECRET_KEY": "chaos-secret-key",
            "DOI_PUBLISH": "true",
            "DOI_INSTANCE": INSTANCE,
            "LANDING_URL_TEMPLATE": LANDING_URL_TEMPLATE,
            "TOMBSTONE_URL_TEMPLATE": TOMBSTONE_URL_TEMPLATE,
            "DOI_MAX_ATTEMPTS": str(self.max_attempts),
            "RETRY_BASE_SECONDS": "0.2",
            "RETRY_CAP_SECONDS": "1",
            "DATACITE_READ_TIMEOUT": str(self.read_timeout),
            "LEASE_SECONDS": str(self.lease_seconds),
            "RELAY_POLL_SECONDS": "0.2",
            "RELAY_BATCH_SIZE": "10",
        }


def admin_url_from_environment() -> str:
    """CHAOS_POSTGRES_URL, else the local default."""
    return os.environ.get("CHAOS_POSTGRES_URL") or DEFAULT_ADMIN_URL


def concept_doi(dataset: str) -> str:
    """The concept DOI doiflow derives for a dataset (lowercase)."""
    return f"{PREFIX}/{INSTANCE}.{dataset}".lower()


def version_doi(dataset: str, version: str) -> str:
    """The version DOI doiflow derives for a dataset version (lowercase)."""
    return f"{concept_doi(dataset)}/{version}".lower()


def belongs_to(doi: str, dataset: str) -> bool:
    """Whether `doi` is the dataset's concept DOI or one of its version DOIs."""
    concept = concept_doi(dataset)
    return doi == concept or doi.startswith(concept + "/")


def landing_url(dataset: str, version: str | None = None) -> str:
    """Where a live DOI resolves; the concept drops the `/{version}` segment."""
    if version is None:
        return LANDING_URL_TEMPLATE.replace("/{version}", "").format(dataset=dataset)
    return LANDING_URL_TEMPLATE.format(dataset=dataset, version=version)


def tombstone_url(dataset: str) -> str:
    """Where every public DOI of a deleted dataset must point."""
    return TOMBSTONE_URL_TEMPLATE.format(dataset=dataset)
