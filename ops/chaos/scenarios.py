"""Targeted scenarios: scripted timings that make the races chaos looks for likely.

Random operations and faults reach most trouble sooner or later; these make the
known-dangerous interleavings happen in every short run. Each one drives datasets
of its own (`s1-vput`, …) through the same journaled lifecycle calls as the clients,
so the final checks judge them exactly like everything else. A scenario never
asserts anything itself: when a wait times out it says so on stderr and moves on.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from ops.chaos import config
from ops.chaos.operations import Lifecycle, draft_metadata, version_metadata
from ops.chaos.sandbox import SandboxControl
from ops.chaos.stack import RELAYS, WORKERS, Stack
from ops.chaos.wiretap import WireEntry, Wiretap

# The latency that keeps one DataCite call in flight while the API changes its dataset.
SLOW_MS = 1500


@dataclass
class ScenarioRunner:
    """What a scenario drives: the API, the sandbox's faults, the wiretap and the stack."""

    lifecycle: Lifecycle
    sandbox: SandboxControl
    wiretap: Wiretap
    stack: Stack
    settings: config.ChaosConfig
    rng: random.Random
    say: Callable[[str], None]

    def create_public(self, dataset: str) -> bool:
        """Create a public dataset and wait until its concept DOI is a draft."""
        metadata = draft_metadata(self.rng, self.lifecycle.label(dataset, "draft"))
        if not self.lifecycle.create(dataset, metadata, embargoed=False).ok:
            return False
        return self.wait_doi(config.concept_doi(dataset), "draft")

    def publish(self, dataset: str, version: str) -> bool:
        """Publish a version with complete metadata."""
        label = self.lifecycle.label(dataset, version)
        return self.lifecycle.publish(dataset, version, version_metadata(self.rng, label)).ok

    def wait_doi(self, doi: str, state: str, timeout: float = 25) -> bool:
        """Poll GET /api/dois/{doi} until it is in `state`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry = self.lifecycle.api.read(f"/api/dois/{doi}")
            if entry.ok and (entry.answer or {}).get("state") == state:
                return True
            time.sleep(0.1)
        self.say(f"scenario: {doi} did not become {state} within {timeout:g} s")
        return False

    def mark(self) -> int:
        """A position in the wiretap's log; later waits look only after it."""
        return len(self.wiretap.entries())

    def wait_call(
        self,
        doi: str,
        *,
        since: int,
        event: str | None,
        finished: bool = False,
        timeout: float = 25,
    ) -> WireEntry | None:
        """Wait for a PUT of `doi` with this event to reach DataCite (or to end)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.wiretap.entries()[since:]:
                if entry.method == "PUT" and entry.doi == doi and entry.event == event:
                    if entry.finished or not finished:
                        return entry
            time.sleep(0.02)
        self.say(f"scenario: no PUT {doi} event={event} within {timeout:g} s")
        return None


def delete_during_version_publish(run: ScenarioRunner, tag: str) -> None:
    """Delete the dataset while its version's publish call is in flight (1.5 s latency).

    The concept draft is DELETEd, the version becomes findable and is then hidden:
    DataCite keeps a registered DOI whose IsVersionOf names a DOI that does not exist.
    """
    dataset = f"{tag}-vput"
    doi = config.version_doi(dataset, "v1")
    if not run.create_public(dataset):
        return
    run.sandbox.add_faults({"method": "PUT", "doi": doi, "times": 1, "latency_ms": SLOW_MS})
    since = run.mark()
    if run.publish(dataset, "v1") and run.wait_call(doi, since=since, event="publish"):
        run.lifecycle.delete_dataset(dataset)


def delete_last_version_during_concept_publish(run: ScenarioRunner, tag: str) -> None:
    """Delete the only version while the concept's publish call is in flight.

    The concept is promoted after the delete was recorded: it must end hidden, not findable.
    """
    dataset = f"{tag}-cput"
    concept = config.concept_doi(dataset)
    if not run.create_public(dataset):
        return
    run.sandbox.add_faults({"method": "PUT", "doi": concept, "times": 1, "latency_ms": SLOW_MS})
    since = run.mark()
    if run.publish(dataset, "v1") and run.wait_call(concept, since=since, event="publish"):
        run.lifecycle.delete_version(dataset, "v1")


def _reset_concept_publish(run: ScenarioRunner, dataset: str) -> bool:
    """Publish v1; the concept's publish is applied but its answer lost, then 503s follow.

    The 503s keep the retries (which would repair the belief) away for a moment.
    """
    concept = config.concept_doi(dataset)
    if not run.create_public(dataset):
        return False
    run.sandbox.add_faults(
        {"method": "PUT", "doi": concept, "times": 1, "action": "reset_after_commit"},
        {"method": "PUT", "doi": concept, "times": 3, "respond": _html(503)},
    )
    since = run.mark()
    if not run.publish(dataset, "v1"):
        return False
    return run.wait_call(concept, since=since, event="publish", finished=True) is not None


def reset_concept_publish_then_delete_dataset(run: ScenarioRunner, tag: str) -> None:
    """The concept is findable at DataCite but doiflow believes draft; the dataset is deleted.

    doiflow DELETEs what it thinks is a draft: 405, the DOI fails, still findable.
    """
    dataset = f"{tag}-rstd"
    if _reset_concept_publish(run, dataset):
        run.lifecycle.delete_dataset(dataset)


def reset_concept_publish_then_delete_version(run: ScenarioRunner, tag: str) -> None:
    """As above, then the last version is deleted and the draft metadata changes.

    doiflow saves what it believes is a draft; DataCite answers "findable".
    """
    dataset = f"{tag}-rstv"
    if _reset_concept_publish(run, dataset):
        run.lifecycle.delete_version(dataset, "v1")
        label = run.lifecycle.label(dataset, "draft")
        run.lifecycle.update(dataset, draft_metadata(run.rng, label))


def delete_version_then_dataset(run: ScenarioRunner, tag: str) -> None:
    """Hide one version, then delete the dataset: every public DOI must reach the tombstone."""
    dataset = f"{tag}-vthend"
    if not run.create_public(dataset):
        return
    for version in ("v1", "v2"):
        if not run.publish(dataset, version):
            return
    if not run.wait_doi(config.version_doi(dataset, "v2"), "findable"):
        return
    run.wait_doi(config.version_doi(dataset, "v1"), "findable")
    run.lifecycle.delete_version(dataset, "v1")
    run.wait_doi(config.version_doi(dataset, "v1"), "registered")
    run.lifecycle.delete_dataset(dataset)


def publish_under_embargo(run: ScenarioRunner, tag: str) -> None:
    """Publish two versions under embargo (one deleted again), then lift the embargo.

    The live version must get its version DOI, findable, with the concept following it.
    """
    dataset = f"{tag}-emb"
    metadata = draft_metadata(run.rng, run.lifecycle.label(dataset, "draft"))
    if not run.lifecycle.create(dataset, metadata, embargoed=True).ok:
        return
    for version in ("v1", "v2"):
        run.publish(dataset, version)
    run.lifecycle.delete_version(dataset, "v1")
    run.lifecycle.unembargo(dataset)


def publish_then_delete_at_once(run: ScenarioRunner, tag: str) -> None:
    """Publish, then delete the dataset at once, three times, the relays paused meanwhile.

    Both syncs are then claimed in one batch and, slowed alike, end together on two
    worker threads, each closing one step of the publish job in its own transaction.
    """
    for n in range(1, 4):
        dataset = f"{tag}-pdel{n}"
        if not run.create_public(dataset):
            continue
        dois = (config.concept_doi(dataset), config.version_doi(dataset, "v1"))
        run.sandbox.add_faults(*({"doi": doi, "times": 1, "latency_ms": 400} for doi in dois))
        for name in RELAYS:
            run.stack.kill(name)
        if run.publish(dataset, "v1"):
            run.lifecycle.delete_dataset(dataset)
        for name in RELAYS:
            run.stack.restart(name)
        time.sleep(1)


def worker_outage(run: ScenarioRunner, tag: str) -> None:
    """Every doi-worker down longer than DOI_MAX_ATTEMPTS leases, relays up, work arriving.

    No DataCite call is even tried; when the workers return every DOI must still get
    its tries, not fail as "retries exhausted".
    """
    for name in WORKERS:
        run.stack.kill(name)
    for n in range(1, 4):
        dataset = f"{tag}-out{n}"
        run.lifecycle.create(dataset, draft_metadata(run.rng, dataset), embargoed=False)
    run.say(f"outage: every doi-worker down for {run.settings.outage_seconds:g} s")
    time.sleep(run.settings.outage_seconds)
    for name in WORKERS:
        run.stack.restart(name)


def _html(status: int) -> dict:
    body = f"<html><body><h1>{status}</h1></body></html>"
    return {"status": status, "body": body, "content_type": "text/html"}


Scenario = Callable[[ScenarioRunner, str], None]

# The races, run once per round of the fault schedule (the outage is scheduled apart).
RACES: tuple[Scenario, ...] = (
    delete_during_version_publish,
    delete_last_version_during_concept_publish,
    reset_concept_publish_then_delete_dataset,
    reset_concept_publish_then_delete_version,
    delete_version_then_dataset,
    publish_under_embargo,
    publish_then_delete_at_once,
)
