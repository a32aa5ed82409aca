"""The lifecycle rules applied to the model: which DOIs should exist, in which state.

Where timing legitimately decides (a version deleted before DataCite ever made it
findable is deleted rather than hidden), every state the rules allow is accepted;
the citation and tombstone checks then judge what was left at DataCite.
"""

from __future__ import annotations

from dataclasses import dataclass

from ops.chaos import config
from ops.chaos.model import DatasetModel, VersionModel, first_title

ABSENT = "absent"  # no DOI row in doiflow


@dataclass(frozen=True)
class Expected:
    """What one DOI should end as."""

    doi: str
    dataset: str
    version: str | None
    states: frozenset[str]
    # Checked at DataCite while the DOI is draft or findable (None: not checked).
    url: str | None = None
    title: str | None = None
    cites: frozenset[tuple[str, str]] | None = None
    rule: str = ""


def expected_dois(model: DatasetModel) -> list[Expected]:
    """Every DOI the rules give a dataset, concept first; none while it is embargoed."""
    if not model.public:
        return []
    return [_concept(model)] + [_version(model, v) for v in model.versions]


def _concept(model: DatasetModel) -> Expected:
    doi = config.concept_doi(model.id)
    live = model.live_versions()
    if model.deleted:
        return Expected(
            doi, model.id, None, frozenset({"deleted", "registered"}), rule="8: deleted or hidden"
        )
    if live:
        cites = frozenset(("HasVersion", config.version_doi(model.id, v.name)) for v in live)
        return Expected(
            doi,
            model.id,
            None,
            frozenset({"findable"}),
            url=config.landing_url(model.id),
            title=live[-1].title,
            cites=cites,
            rule="4/6: findable, following the latest live version",
        )
    states = {"draft", "registered"} if model.versions else {"draft"}
    return Expected(
        doi,
        model.id,
        None,
        frozenset(states),
        url=config.landing_url(model.id),
        title=first_title(model.metadata),
        cites=frozenset(),
        rule="2/7: a draft of the draft metadata, or hidden once it was public",
    )


def _version(model: DatasetModel, version: VersionModel) -> Expected:
    doi = config.version_doi(model.id, version.name)
    if version.deleted_embargoed:
        # Never public: it must never reach DataCite at all.
        return Expected(doi, model.id, version.name, frozenset({ABSENT, "deleted"}), rule="embargo")
    if version.deleted:
        states = frozenset({"registered", "deleted"})
        return Expected(doi, model.id, version.name, states, rule="7/8: hidden (or never made)")
    return Expected(
        doi,
        model.id,
        version.name,
        frozenset({"findable"}),
        url=config.landing_url(model.id, version.name),
        title=version.title,
        cites=frozenset({("IsVersionOf", config.concept_doi(model.id))}),
        rule="4/6: findable with its own metadata, IsVersionOf the concept",
    )
