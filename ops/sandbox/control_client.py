"""A small client of the sandbox's /__sandbox/ control interface, over HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from datetime import datetime
from urllib.parse import quote

from ops.sandbox.testing import Fault


class SandboxControlError(Exception):
    """The control interface refused a call; carries its status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class SandboxControl:
    """Inspect, seed and disturb a running sandbox (in-process or `doiflow sandbox`)."""

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"the sandbox URL must be http(s), not {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def requests(self) -> list[dict]:
        """Every API request so far: method, path, doi, event, status, fault, time."""
        return self._call("GET", "requests")

    def clear_requests(self) -> None:
        """Empty the request log."""
        self._call("DELETE", "requests")

    def dois(self) -> list[dict]:
        """Every DOI with its state, url, owner and times, oldest first."""
        return self._call("GET", "dois")

    def doi(self, doi: str) -> dict | None:
        """One DOI with its stored attributes, or None when it does not exist."""
        try:
            return self._call("GET", f"dois/{quote(doi, safe='/')}")
        except SandboxControlError as error:
            if error.status == 404:
                return None
            raise

    def seed(
        self,
        doi: str,
        *,
        state: str = "draft",
        attributes: Mapping[str, object] | None = None,
        owner: str | None = None,
        created: datetime | str | None = None,
        updated: datetime | str | None = None,
        registered: datetime | str | None = None,
    ) -> dict:
        """Put a DOI in place in any state, with no checks at all."""
        body: dict = {"state": state, "attributes": dict(attributes or {})}
        moments = {"created": created, "updated": updated, "registered": registered}
        body.update({k: _iso(v) for k, v in moments.items() if v is not None})
        if owner is not None:
            body["owner"] = owner
        return self._call("PUT", f"dois/{quote(doi, safe='/')}", body)

    def remove(self, doi: str) -> None:
        """Drop a DOI whatever its state."""
        self._call("DELETE", f"dois/{quote(doi, safe='/')}")

    def inject(self, *faults: Fault | Mapping[str, object]) -> list[dict]:
        """Add fault rules (Fault or its JSON form); return every active rule."""
        rules = [fault.to_rule() if isinstance(fault, Fault) else dict(fault) for fault in faults]
        return self._call("POST", "faults", rules)

    def faults(self) -> list[dict]:
        """The active fault rules."""
        return self._call("GET", "faults")

    def clear_faults(self) -> None:
        """Drop every fault rule."""
        self._call("DELETE", "faults")

    def configure(
        self, *, domains: Iterable[str] | None = None, rate_limit: str | None = None
    ) -> dict:
        """Change the allowed landing-page domains and/or the rate limit until a reset."""
        body: dict = {}
        if domains is not None:
            body["domains"] = list(domains)
        if rate_limit is not None:
            body["rate_limit"] = rate_limit
        return self._call("POST", "config", body)

    def reset(self) -> None:
        """Forget every DOI, request and fault; restore the starting configuration."""
        self._call("POST", "reset")

    def _call(self, method: str, path: str, body: object = None):
        data = json.dumps(body).encode() if body is not None else None
        # S310: base_url was checked to be http(s) when the client was made.
        request = urllib.request.Request(  # noqa: S310
            f"{self.base_url}/__sandbox/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                text = answer.read()
        except urllib.error.HTTPError as error:
            raise SandboxControlError(error.code, _message(error.read())) from None
        return json.loads(text) if text else None


def _iso(moment: datetime | str) -> str:
    return moment.isoformat() if isinstance(moment, datetime) else moment


def _message(text: bytes) -> str:
    try:
        return str(json.loads(text).get("error", text.decode()))
    except (ValueError, AttributeError):
        return text.decode(errors="replace")
