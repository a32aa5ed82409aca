"""Builders for tests against the sandbox: the account, DOI payloads and fault rules."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from ops.sandbox.accounts import DEFAULT_PREFIXES, DEFAULT_USERS
from ops.sandbox.faults import FaultRule


@dataclass(frozen=True)
class SandboxAccount:
    """The repository account a test sandbox serves: Basic-auth user, password, prefixes."""

    user: str
    password: str
    prefixes: tuple[str, ...]

    @property
    def auth(self) -> tuple[str, str]:
        """(user, password), as `requests` takes it."""
        return (self.user, self.password)

    @property
    def prefix(self) -> str:
        """The first prefix, where tests mint their DOIs."""
        return self.prefixes[0]


DEFAULT_ACCOUNT = SandboxAccount(
    user=next(iter(DEFAULT_USERS)),
    password=next(iter(DEFAULT_USERS.values())),
    prefixes=tuple(DEFAULT_PREFIXES),
)


def kernel4_attributes(**overrides: object) -> dict:
    """Metadata DataCite accepts for a findable DOI; keyword arguments replace fields."""
    attributes: dict = {
        "url": "https://archive.example.org/datasets/ds1",
        "creators": [{"name": "Doe, Jane", "nameType": "Personal"}],
        "titles": [{"title": "A dataset"}],
        "publisher": "Example Archive",
        "publicationYear": 2024,
        "types": {"resourceTypeGeneral": "Dataset"},
    }
    attributes.update(overrides)
    return attributes


def doi_payload(attributes: dict | None = None, **more: object) -> dict:
    """Wrap DOI attributes in the JSON:API document DataCite expects."""
    return {"data": {"type": "dois", "attributes": {**(attributes or {}), **more}}}


@dataclass(frozen=True)
class Fault:
    """One fault rule for the control interface; build it with respond, action or latency."""

    effect: Mapping[str, object] = field(hash=False)
    method: str | None = None
    doi: str | None = None
    times: int | None = None
    probability: float | None = None
    latency_ms: int = 0

    def __post_init__(self) -> None:
        # The server's own parser, so a nonsense rule fails where it is written.
        FaultRule.from_json(self.to_rule())

    @classmethod
    def respond(
        cls,
        status: int,
        *,
        headers: Mapping[str, str] | None = None,
        body: object = None,
        content_type: str | None = None,
        method: str | None = None,
        doi: str | None = None,
        times: int | None = None,
        probability: float | None = None,
    ) -> Fault:
        """Answer `status` (with headers, body, content type) instead of the API."""
        answer: dict = {"status": status, "headers": dict(headers or {})}
        if body is not None:
            answer["body"] = body
        if content_type is not None:
            answer["content_type"] = content_type
        effect = {"respond": answer}
        return cls(effect, method=method, doi=doi, times=times, probability=probability)

    @classmethod
    def action(
        cls,
        name: str,
        *,
        seconds: float = 0.0,
        method: str | None = None,
        doi: str | None = None,
        times: int | None = None,
        probability: float | None = None,
    ) -> Fault:
        """Perform `timeout`, `timeout_after_commit`, `reset` or `reset_after_commit`."""
        effect = {"action": name, "seconds": seconds}
        return cls(effect, method=method, doi=doi, times=times, probability=probability)

    @classmethod
    def latency(
        cls,
        milliseconds: int,
        *,
        method: str | None = None,
        doi: str | None = None,
        times: int | None = None,
        probability: float | None = None,
    ) -> Fault:
        """Delay the answer by `milliseconds`, changing nothing else."""
        return cls(
            {},
            method=method,
            doi=doi,
            times=times,
            probability=probability,
            latency_ms=milliseconds,
        )

    def with_latency(self, milliseconds: int) -> Fault:
        """The same rule, answering `milliseconds` later."""
        return replace(self, latency_ms=milliseconds)

    def to_rule(self) -> dict:
        """The rule's JSON form, as POST /__sandbox/faults takes it."""
        scope = {"method": self.method, "doi": self.doi, "times": self.times}
        rule = {**scope, "probability": self.probability, **copy.deepcopy(dict(self.effect))}
        if self.latency_ms:
            rule["latency_ms"] = self.latency_ms
        return rule
