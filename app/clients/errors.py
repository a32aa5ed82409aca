"""Errors every remote client raises, so nothing above a client sees its transport.

The DOI state machine decides what to do from the class alone:
success applies a transition, `PermanentError` fails the DOI at once,
`ThrottledError` snoozes without using an attempt, `TransientError` retries
with backoff.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RemoteProblem:
    """One error reported by the remote service, kept for people to read."""

    title: str
    source: str | None = None

    def __str__(self) -> str:
        return f"{self.source}: {self.title}" if self.source else self.title


class RemoteError(Exception):
    """Base of every classified remote failure."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        problems: tuple[RemoteProblem, ...] = (),
        body: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.problems = problems
        self.body = body

    def __str__(self) -> str:
        if self.problems:
            return f"{self.message}: " + "; ".join(str(p) for p in self.problems)
        return self.message


class PermanentError(RemoteError):
    """The request can never succeed as sent; a person or a re-drive must act."""


class TransientError(RemoteError):
    """The request may succeed later (5xx, timeout, connection error)."""

    def __init__(
        self,
        message: str,
        *,
        timed_out: bool = False,
        maybe_applied: bool | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.timed_out = timed_out
        # The request may have reached the service and been applied with its answer lost
        # (a timeout, a dropped connection, a proxy's 5xx): the caller looks before it
        # decides again. Only a connection that never opened is known not to have.
        self.maybe_applied = timed_out if maybe_applied is None else maybe_applied


class ThrottledError(RemoteError):
    """The service asked us to slow down; `retry_after` is in seconds, or None."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        exact: bool = False,
        reserved_until: float | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after
        # True when `retry_after` is exactly when a token is free (our own rate limiter).
        self.exact = exact
        # Epoch seconds of a token our rate limiter reserved for the next try, if any.
        self.reserved_until = reserved_until


class UnexpectedError(TransientError):
    """Not a remote answer at all: a bug or a local failure, retried like a transient one."""

    def __init__(self, error: BaseException, *, phase: str) -> None:
        super().__init__(
            f"unexpected {type(error).__name__} while {phase}: {error}"[:1000], maybe_applied=True
        )
        self.phase = phase


class MissingObjectError(PermanentError):
    """The S3 object or object version does not exist (a delete marker counts as missing).

    Permanent: a version id never comes back once it is gone.
    """


class HeldError(PermanentError):
    """S3 refused to delete an object version: it is held (legal hold or retention)."""


class BucketConfigurationError(PermanentError):
    """The S3 bucket is missing or has no Object Lock: the operator must fix the settings."""


@dataclass(frozen=True)
class RemoteDoi:
    """What DataCite answered about one DOI."""

    doi: str
    state: str
    url: str | None = None
    attributes: dict = field(default_factory=dict)
    http_status: int = 200
