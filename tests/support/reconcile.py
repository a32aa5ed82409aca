"""Shared by the reconcile tests: datasets published and settled at DataCite."""

from __future__ import annotations

from tests.fixtures.pipeline import wait_until
from tests.support.lifecycle import concept, create, doi_state, open_intents, publish, version_doi


def settled(pipeline, datasets: list[str]) -> None:
    """Every dataset published once, every DOI findable, nothing left queued."""
    for name in datasets:
        create(pipeline.runtime, name)
        publish(pipeline.runtime, name, "v1")
    dois = [version_doi(n, "v1") for n in datasets] + [concept(n) for n in datasets]
    wait_until(lambda: all(doi_state(pipeline.runtime, d) == "findable" for d in dois), timeout=90)
    wait_until(lambda: not open_intents(pipeline.runtime), timeout=90)
