"""A sandbox's DOIs kept in a JSON file, so a restarted `doiflow dev` still has them."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from ops.sandbox.store import DoiRecord

FORMAT = 1


class StateFileError(Exception):
    """The state file exists but cannot be read as a sandbox's DOIs."""


class StateFile:
    """A JSON file holding every DOI of a sandbox, rewritten whole after each change."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> list[DoiRecord]:
        """Return the DOIs saved in the file; none when it does not exist yet."""
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as error:
            raise StateFileError(f"cannot read sandbox state {self.path}: {error}") from error
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise StateFileError(f"{self.path} is not a sandbox state file (format {FORMAT})")
        try:
            return [_record(item) for item in document["dois"]]
        except (KeyError, TypeError, ValueError) as error:
            raise StateFileError(f"{self.path} holds a DOI it cannot read: {error!r}") from error

    def save(self, records: Iterable[DoiRecord]) -> None:
        """Write every DOI atomically: a temporary file, then a rename over the old one."""
        document = {"format": FORMAT, "dois": [_json(record) for record in records]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(document, stream, indent=1)
                stream.flush()
                # Renamed only once on disk, so a crash leaves the old file or the new one.
                os.fsync(stream.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _json(record: DoiRecord) -> dict:
    return {
        "doi": record.doi,
        "owner": record.owner,
        "state": record.state,
        "metadata": record.metadata,
        "created": record.created.isoformat(),
        "updated": record.updated.isoformat(),
        "registered": record.registered.isoformat() if record.registered else None,
        "metadataVersion": record.metadata_version,
    }


def _record(item: dict) -> DoiRecord:
    registered = item.get("registered")
    return DoiRecord(
        doi=item["doi"],
        owner=item["owner"],
        state=item["state"],
        metadata=dict(item["metadata"]),
        created=datetime.fromisoformat(item["created"]),
        updated=datetime.fromisoformat(item["updated"]),
        registered=datetime.fromisoformat(registered) if registered else None,
        metadata_version=int(item["metadataVersion"]),
    )
