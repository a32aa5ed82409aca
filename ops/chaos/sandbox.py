"""The DataCite sandbox's control interface (`/__sandbox/…`), as the chaos harness uses it."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

TIMEOUT = 10


class SandboxControl:
    """Faults, the request log and the DOIs the sandbox holds."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()

    def add_faults(self, *rules: dict[str, Any]) -> None:
        """POST /__sandbox/faults."""
        response = self.session.post(
            f"{self.url}/__sandbox/faults", json=list(rules), timeout=TIMEOUT
        )
        response.raise_for_status()

    def clear_faults(self) -> None:
        """DELETE /__sandbox/faults."""
        self.session.delete(f"{self.url}/__sandbox/faults", timeout=TIMEOUT).raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        """GET /__sandbox/requests: every API request, in arrival order."""
        response = self.session.get(f"{self.url}/__sandbox/requests", timeout=TIMEOUT)
        response.raise_for_status()
        return list(response.json())

    def dois(self) -> dict[str, dict[str, Any]]:
        """GET /__sandbox/dois, keyed by (lowercase) DOI."""
        response = self.session.get(f"{self.url}/__sandbox/dois", timeout=TIMEOUT)
        response.raise_for_status()
        return {d["doi"].lower(): d for d in response.json()}

    def record(self, doi: str) -> dict[str, Any] | None:
        """GET /__sandbox/dois/{doi}: state, url and attributes; None when absent."""
        response = self.session.get(
            f"{self.url}/__sandbox/dois/{quote(doi, safe='/')}", timeout=TIMEOUT
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return dict(response.json())

    def close(self) -> None:
        """Release the connection pool."""
        self.session.close()
