"""What the archive asked for, rebuilt from the journal's successful answers only.

Each dataset is driven by one client (or one scenario), so its entries are in the
order the API committed them. A request that got no answer may or may not have been
applied: the dataset is marked uncertain and the strict "nothing lost" checks skip it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ops.chaos.journal import Entry

LIFECYCLE = frozenset(
    {"create", "update", "unembargo", "publish", "delete_version", "delete_dataset"}
)


@dataclass
class VersionModel:
    """One published version as the archive knows it."""

    name: str
    metadata: dict[str, Any]
    published_embargoed: bool
    job: int | None = None
    deleted: bool = False
    deleted_embargoed: bool = False
    refs: list[str] = field(default_factory=list)

    @property
    def title(self) -> str | None:
        """The first title: every operation writes a unique one."""
        return first_title(self.metadata)


@dataclass
class DatasetModel:
    """One dataset as the archive knows it."""

    id: str
    owner: str
    embargoed: bool
    metadata: dict[str, Any]
    public_since: str | None
    deleted: bool = False
    versions: list[VersionModel] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)

    @property
    def public(self) -> bool:
        """Created public, or unembargoed since."""
        return self.public_since is not None

    def live_versions(self) -> list[VersionModel]:
        """Versions not deleted, oldest first."""
        return [v for v in self.versions if not v.deleted]

    def version(self, name: str) -> VersionModel | None:
        """The version of that name, if published."""
        return next((v for v in self.versions if v.name == name), None)

    def next_version_name(self) -> str:
        """`v1`, `v2`, … (names are never reused, even after an unanswered publish)."""
        return f"v{len(self.versions) + len(self.uncertain) + 1}"


Models = dict[str, DatasetModel]


def build(entries: Iterable[Entry]) -> Models:
    """Replay entries (each client's in its own order) into dataset models."""
    models: Models = {}
    for entry in entries:
        apply(models, entry)
    return models


def apply(models: Models, entry: Entry) -> None:
    """Fold one journal entry into the models."""
    if entry.dataset is None:
        return
    if entry.op == "create" and entry.ok:
        _create(models, entry)
    model = models.get(entry.dataset)
    if model is None:
        return
    model.refs.append(entry.ref)
    if entry.op not in LIFECYCLE:
        return
    if entry.status is None:
        model.uncertain.append(entry.ref)
    elif entry.ok and entry.op != "create":
        _CHANGES[entry.op](model, entry)


def _create(models: Models, entry: Entry) -> None:
    body = entry.body or {}
    embargoed = bool(body.get("embargoed"))
    models[entry.dataset or ""] = DatasetModel(
        id=entry.dataset or "",
        owner=entry.client,
        embargoed=embargoed,
        metadata=body.get("metadata") or {},
        public_since=None if embargoed else entry.sent,
    )


def _update(model: DatasetModel, entry: Entry) -> None:
    model.metadata = (entry.body or {}).get("metadata") or {}


def _unembargo(model: DatasetModel, entry: Entry) -> None:
    model.embargoed = False
    model.public_since = model.public_since or entry.sent


def _publish(model: DatasetModel, entry: Entry) -> None:
    body = entry.body or {}
    job = (entry.answer or {}).get("job") or {}
    version = VersionModel(
        name=body.get("version") or "",
        metadata=body.get("metadata") or {},
        published_embargoed=model.embargoed,
        job=job.get("id"),
        refs=[entry.ref],
    )
    model.versions.append(version)


def _delete_version(model: DatasetModel, entry: Entry) -> None:
    version = model.version(entry.version or "")
    if version is not None:
        _retire(model, version, entry)


def _delete_dataset(model: DatasetModel, entry: Entry) -> None:
    model.deleted = True
    for version in model.live_versions():
        _retire(model, version, entry)


def _retire(model: DatasetModel, version: VersionModel, entry: Entry) -> None:
    version.deleted = True
    version.deleted_embargoed = model.embargoed
    version.refs.append(entry.ref)


_CHANGES = {
    "update": _update,
    "unembargo": _unembargo,
    "publish": _publish,
    "delete_version": _delete_version,
    "delete_dataset": _delete_dataset,
}


def first_title(metadata: dict[str, Any] | None) -> str | None:
    """The first `titles[].title` of DataCite attributes, if any."""
    titles = (metadata or {}).get("titles") or []
    if titles and isinstance(titles[0], dict):
        return titles[0].get("title")
    return None
