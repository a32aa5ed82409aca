"""Seeded random lifecycle operations, sent by several client threads at once.

Every client owns its datasets (`c1-d1`, `c1-d2`, …), so each dataset's requests are
sent one after another and its model is exact; the clients run concurrently, so the
service sees interleaved work on many datasets. A client picks each operation from
what its model says the dataset allows, and now and then one the rules refuse
(a 409, 404 or 422 is then the expected answer).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

from ops.chaos import config
from ops.chaos.journal import ApiClient, Entry, Journal
from ops.chaos.model import DatasetModel, Models, apply

CREATORS = ("Doe, Jane", "Roe, Richard", "Curie, Marie", "Noether, Emmy", "Turing, Alan")


def draft_metadata(rng: random.Random, label: str) -> dict[str, Any]:
    """Minimal draft metadata (DataCite accepts drafts without the required fields)."""
    metadata: dict[str, Any] = {"titles": [{"title": label}]}
    if rng.random() < 0.5:
        metadata["creators"] = [{"name": rng.choice(CREATORS)}]
    return metadata


def version_metadata(rng: random.Random, label: str) -> dict[str, Any]:
    """Complete kernel-4 metadata, as a findable DOI needs."""
    creators = rng.sample(CREATORS, rng.randint(1, 2))
    return {
        "titles": [{"title": label}],
        "creators": [{"name": name} for name in creators],
        "publisher": {"name": "Chaos Archive"},
        "publicationYear": str(rng.randint(2015, 2026)),
        "types": {"resourceTypeGeneral": "Dataset"},
    }


class Lifecycle:
    """The API's lifecycle calls; each journaled and folded into the caller's models."""

    def __init__(self, api: ApiClient, operator: ApiClient, models: Models) -> None:
        self.api = api
        self.operator = operator
        self.models = models
        self._labels = 0

    @classmethod
    def over(cls, url: str, token: str, operator_token: str, journal: Journal) -> Lifecycle:
        """A lifecycle with models of its own, both tokens writing into one journal."""
        return cls(ApiClient(url, token, journal), ApiClient(url, operator_token, journal), {})

    def label(self, dataset: str, what: str) -> str:
        """A title no other operation uses, so DataCite's copy shows which one won."""
        self._labels += 1
        return f"{dataset} {what} #{self._labels}"

    def create(self, dataset: str, metadata: dict, *, embargoed: bool, expected=(201,)) -> Entry:
        """POST /api/datasets."""
        body = {"id": dataset, "embargoed": embargoed, "metadata": metadata}
        return self._call("create", dataset, "POST", "/api/datasets", body, expected)

    def update(self, dataset: str, metadata: dict, expected=(200,)) -> Entry:
        """PUT /api/datasets/{id}/metadata."""
        path = f"/api/datasets/{dataset}/metadata"
        return self._call("update", dataset, "PUT", path, {"metadata": metadata}, expected)

    def unembargo(self, dataset: str, expected=(202,)) -> Entry:
        """POST /api/datasets/{id}/unembargo."""
        path = f"/api/datasets/{dataset}/unembargo"
        return self._call("unembargo", dataset, "POST", path, None, expected)

    def publish(self, dataset: str, version: str, metadata: dict, expected=(202,)) -> Entry:
        """POST /api/datasets/{id}/versions."""
        body = {"version": version, "metadata": metadata, "blobs": []}
        path = f"/api/datasets/{dataset}/versions"
        return self._call("publish", dataset, "POST", path, body, expected, version)

    def delete_version(self, dataset: str, version: str, expected=(202,)) -> Entry:
        """DELETE /api/datasets/{id}/versions/{version}."""
        path = f"/api/datasets/{dataset}/versions/{version}"
        return self._call("delete_version", dataset, "DELETE", path, None, expected, version)

    def delete_dataset(self, dataset: str, expected=(202,)) -> Entry:
        """DELETE /api/datasets/{id}."""
        return self._call(
            "delete_dataset", dataset, "DELETE", f"/api/datasets/{dataset}", None, expected
        )

    def get(self, dataset: str, expected=(200,)) -> Entry:
        """GET /api/datasets/{id}."""
        return self._call("get", dataset, "GET", f"/api/datasets/{dataset}", None, expected)

    def look(self, doi: str, dataset: str | None) -> Entry:
        """GET /api/dois/{doi} (a version DOI row may not exist yet: 404 is fine)."""
        return self._call("look", dataset, "GET", f"/api/dois/{doi}", None, (200, 404))

    def retry(self, doi: str, dataset: str | None, expected=(202,)) -> Entry:
        """POST /api/dois/{doi}/retry with the operator token."""
        entry = self.operator.call(
            "retry", dataset, "POST", f"/api/dois/{doi}/retry", {"reason": "chaos"}, expected
        )
        apply(self.models, entry)
        return entry

    def _call(
        self,
        op: str,
        dataset: str,
        method: str,
        path: str,
        body: Any,
        expected: tuple[int, ...],
        version: str | None = None,
    ) -> Entry:
        entry = self.api.call(op, dataset, method, path, body, expected, version)
        apply(self.models, entry)
        return entry


def public_dois(model: DatasetModel) -> list[str]:
    """The DOIs doiflow should hold for a dataset (none while it is embargoed)."""
    if not model.public:
        return []
    versions = [v for v in model.versions if not v.deleted_embargoed]
    return [config.concept_doi(model.id)] + [config.version_doi(model.id, v.name) for v in versions]


class Client(threading.Thread):
    """One archive backend: `count` seeded operations on datasets of its own."""

    def __init__(
        self,
        name: str,
        lifecycle: Lifecycle,
        *,
        seed: int,
        count: int,
        think_seconds: float,
        stop: threading.Event,
        on_operation: Callable[[], None],
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.lifecycle = lifecycle
        self.rng = random.Random(f"{seed}/{name}")
        self.count = count
        self.think_seconds = think_seconds
        self.stop = stop
        self.on_operation = on_operation
        self.max_datasets = max(3, count // 4)
        self.done = 0

    def run(self) -> None:
        """Send the operations, pausing a seeded, exponentially distributed time between."""
        for _ in range(self.count):
            if self.stop.wait(self.rng.expovariate(1 / self.think_seconds)):
                return
            self.step()
            self.done += 1
            self.on_operation()

    def mine(self) -> list[DatasetModel]:
        """This client's datasets (its lifecycle's models hold nobody else's)."""
        return list(self.lifecycle.models.values())

    def step(self) -> None:
        """Pick one operation the model allows (or, rarely, one it refuses) and send it."""
        live = [m for m in self.mine() if not m.deleted and not m.uncertain]
        kinds = self._kinds(live)
        kind = self.rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
        getattr(self, f"_{kind}")(live)

    def _kinds(self, live: list[DatasetModel]) -> list[tuple[str, float]]:
        if len(live) < 2:
            return [("create", 1.0)]
        kinds = [("update", 2.0), ("publish", 3.0), ("retry", 0.8), ("get", 0.4)]
        kinds.append(("refused", 0.6))
        if len(self.mine()) < self.max_datasets:
            kinds.append(("create", 1.2))
        if any(m.embargoed for m in live):
            kinds.append(("unembargo", 1.5))
        if any(m.live_versions() for m in live):
            kinds.append(("delete_version", 1.3))
        kinds.append(("delete_dataset", 0.6))
        return kinds

    def _create(self, live: list[DatasetModel]) -> None:
        dataset = f"{self.name}-d{len(self.mine()) + 1}"
        embargoed = self.rng.random() < 0.25
        metadata = draft_metadata(self.rng, self.lifecycle.label(dataset, "draft"))
        self.lifecycle.create(dataset, metadata, embargoed=embargoed)

    def _update(self, live: list[DatasetModel]) -> None:
        model = self.rng.choice(live)
        label = self.lifecycle.label(model.id, "draft")
        self.lifecycle.update(model.id, draft_metadata(self.rng, label))

    def _unembargo(self, live: list[DatasetModel]) -> None:
        model = self.rng.choice([m for m in live if m.embargoed])
        self.lifecycle.unembargo(model.id)

    def _publish(self, live: list[DatasetModel]) -> None:
        model = self.rng.choice(live)
        name = model.next_version_name()
        metadata = version_metadata(self.rng, self.lifecycle.label(model.id, name))
        self.lifecycle.publish(model.id, name, metadata)

    def _delete_version(self, live: list[DatasetModel]) -> None:
        model = self.rng.choice([m for m in live if m.live_versions()])
        self.lifecycle.delete_version(model.id, self.rng.choice(model.live_versions()).name)

    def _delete_dataset(self, live: list[DatasetModel]) -> None:
        self.lifecycle.delete_dataset(self.rng.choice(live).id)

    def _get(self, live: list[DatasetModel]) -> None:
        self.lifecycle.get(self.rng.choice(live).id)

    def _retry(self, live: list[DatasetModel]) -> None:
        candidates = [(m.id, doi) for m in self.mine() for doi in public_dois(m)]
        if not candidates:
            self._get(live)
            return
        dataset, doi = self.rng.choice(candidates)
        # Drawn before the look, whose answer depends on timing: the seed's sequence holds.
        roll = self.rng.random()
        looked = self.lifecycle.look(doi, dataset)
        failed = looked.ok and (looked.answer or {}).get("state") == "failed"
        if failed:
            self.lifecycle.retry(doi, dataset)
        elif roll < 0.3:
            # Not failed (or not there): the API must refuse, unless it failed meanwhile.
            self.lifecycle.retry(
                doi, dataset, expected=(404,) if looked.status == 404 else (409, 202)
            )

    def _refused(self, live: list[DatasetModel]) -> None:
        """An operation the lifecycle rules refuse; the expected 4xx changes nothing."""
        model = self.rng.choice(live)
        gone = [m for m in self.mine() if m.deleted and not m.uncertain]
        choice = self.rng.randrange(6)
        if choice == 0 and gone:
            self._on_deleted(self.rng.choice(gone))
        elif choice == 1:
            self.lifecycle.create(model.id, {}, embargoed=False, expected=(409,))
        elif choice == 2:
            self.lifecycle.delete_version(model.id, "no-such-version", expected=(404,))
        elif choice == 3 and not model.embargoed:
            self.lifecycle.unembargo(model.id, expected=(409,))
        elif choice == 4:
            bad = {"titles": [{"title": self.lifecycle.label(model.id, "refused")}]}
            self.lifecycle.publish(model.id, model.next_version_name(), bad, expected=(422,))
        else:
            self.lifecycle.get(f"{self.name}-nobody", expected=(404,))

    def _on_deleted(self, model: DatasetModel) -> None:
        choice = self.rng.randrange(4)
        if choice == 0:
            self.lifecycle.delete_dataset(model.id, expected=(409,))
        elif choice == 1:
            self.lifecycle.update(model.id, {}, expected=(409,))
        elif choice == 2:
            metadata = version_metadata(self.rng, self.lifecycle.label(model.id, "late"))
            self.lifecycle.publish(model.id, model.next_version_name(), metadata, expected=(409,))
        else:
            self.lifecycle.unembargo(model.id, expected=(409,))
