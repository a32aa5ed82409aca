"""The kernel-4 XML schema checks a DOI meets once it leaves draft.

lupo sources (commit in ops/sandbox/__init__.py): app/validators/xml_schema_validator.rb,
app/models/doi.rb (validatable?, the xml validation) and bolognese's generated XML checked
against DataCite Metadata Schema 4.7 (github.com/datacite/schema, source/meta/kernel-4).
"""

from __future__ import annotations

import pytest
import requests

from tests.fixtures.sandbox import SANDBOX_AUTH, SANDBOX_PREFIX, doi_payload, kernel4_attributes

DOI = f"{SANDBOX_PREFIX}/checked"
ENUMERATION = f"DOI {DOI}: [facet 'enumeration'] The value 'IsCoolerThan' is not an element"


def put(base_url: str, attributes: dict, event: str | None = None) -> requests.Response:
    payload = doi_payload(attributes, **({"event": event} if event else {}))
    return requests.put(f"{base_url}/dois/{DOI}", json=payload, auth=SANDBOX_AUTH, timeout=5)


def errors_by_source(response: requests.Response) -> dict[str, str]:
    return {error["source"]: error["title"] for error in response.json()["errors"]}


def related(relation: str | None) -> list[dict]:
    item = {"relatedIdentifier": "10.1234/journal", "relatedIdentifierType": "DOI"}
    return [{**item, "relationType": relation}] if relation is not None else [item]


def test_publish_with_a_relation_type_outside_kernel_4_is_422(sandbox):
    # lupo's XmlSchemaValidator (app/validators/xml_schema_validator.rb) on bolognese's
    # relatedIdentifier, whose relationType the schema enumerates; source and title are
    # shaped like post_spec.rb's nameType case ("creatorName', attribute 'nameType").
    put(sandbox.url, {"version": "draft"})

    response = put(
        sandbox.url, kernel4_attributes(relatedIdentifiers=related("IsCoolerThan")), "publish"
    )

    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["source"] == "relatedIdentifier', attribute 'relationType"
    assert error["title"].startswith(f"{ENUMERATION} of the set {{'IsCitedBy', 'Cites', ")
    assert error["title"].endswith(", 'IsTranslationOf', 'Other'}.")
    assert sandbox.state_of(DOI) == "draft"


def test_publish_without_a_relation_type_is_422(sandbox):
    # The schema declares relationType use="required"; bolognese leaves out a nil one.
    put(sandbox.url, {"version": "draft"})

    response = put(sandbox.url, kernel4_attributes(relatedIdentifiers=related(None)), "publish")

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "source": "relatedIdentifier",
            "title": f"DOI {DOI}: The attribute 'relationType' is required but missing.",
            "uid": DOI,
        }
    ]


def test_update_of_a_findable_doi_checks_its_relation_types(sandbox):
    # DataciteDoisController#update validates a findable DOI's whole record again.
    put(sandbox.url, kernel4_attributes(), "publish")

    response = put(sandbox.url, {"relatedIdentifiers": related("IsCoolerThan"), "version": "2"})

    assert response.status_code == 422
    assert set(errors_by_source(response)) == {"relatedIdentifier', attribute 'relationType"}
    stored = requests.get(f"{sandbox.url}/dois/{DOI}", timeout=5).json()["data"]["attributes"]
    assert (stored["relatedIdentifiers"], stored["version"]) == ([], None)


def test_draft_accepts_any_relation_type(sandbox):
    # Drafts are not schema-checked (Doi#validatable?); check_related_identifiers only
    # wants objects.
    response = put(sandbox.url, {"relatedIdentifiers": related("IsCoolerThan")})

    assert response.status_code == 201
    assert sandbox.state_of(DOI) == "draft"


@pytest.mark.parametrize("relation", ["IsPublishedIn", "IsVersionOf", "HasVersion", "Other"])
def test_publish_with_a_kernel_4_relation_type_succeeds(sandbox, relation):
    # IsPublishedIn came with schema 4.4, Other with 4.7 (post_spec.rb "schema 4.7 - json").
    put(sandbox.url, {"version": "draft"})

    response = put(sandbox.url, kernel4_attributes(relatedIdentifiers=related(relation)), "publish")

    assert response.status_code == 200
    assert sandbox.state_of(DOI) == "findable"


@pytest.mark.parametrize(
    "change",
    [
        {"titles": [{"title": ""}]},
        {"titles": [{"title": " "}]},
        {"creators": [{"name": ""}]},
        {"creators": [{"name": " ", "nameType": "Organizational"}]},
        {"publisher": " "},
    ],
)
def test_blank_titles_creator_names_and_a_space_publisher_are_published(sandbox, change):
    # In the kernel-4 schema title and creatorName are plain xs:string and publisher is
    # nonemptycontentStringType (minLength 1), and lupo adds no check of its own
    # (doi.rb check_titles/check_creators test the shape only). doiflow refuses blanks
    # itself, before anything is sent.
    put(sandbox.url, {"version": "draft"})

    response = put(sandbox.url, kernel4_attributes(**change), "publish")

    assert response.status_code == 200
    assert sandbox.state_of(DOI) == "findable"


@pytest.mark.parametrize("publisher", ["", {"name": ""}, {"lang": "en"}])
def test_an_empty_publisher_is_refused_on_leaving_draft(sandbox, publisher):
    # minLength 1: the generated <publisher/> has no character at all.
    put(sandbox.url, {"version": "draft"})

    response = put(sandbox.url, kernel4_attributes(publisher=publisher), "publish")

    assert response.status_code == 422
    assert errors_by_source(response) == {"publisher": "Can't be blank"}
    assert sandbox.state_of(DOI) == "draft"


@pytest.mark.parametrize("event", ["publish", "register"])
@pytest.mark.parametrize("method", ["put", "post"])
def test_new_doi_published_with_incomplete_metadata_is_just_invalid_metadata(
    sandbox, method, event
):
    # post_spec.rb "creators no xml": without schemaVersion XmlSchemaValidator skips a
    # new DOI; the XML fails when its Metadata row is saved, and that is all lupo says.
    attributes = {
        "doi": DOI,
        "url": "http://www.bl.uk/pdf/patspec.pdf",
        "creators": [{"name": "Ollomi, Benjamin"}, {"name": "Duran, Patrick"}],
        "event": event,
    }
    url = f"{sandbox.url}/dois" + (f"/{DOI}" if method == "put" else "")

    response = requests.request(
        method, url, json=doi_payload(attributes), auth=SANDBOX_AUTH, timeout=5
    )

    assert response.status_code == 422
    assert response.json()["errors"] == [{"source": "metadata", "title": "Is invalid", "uid": DOI}]
    assert sandbox.dois() == []


def test_model_errors_of_a_new_doi_come_before_any_metadata_error(sandbox):
    # lupo saves the Metadata row (and finds the XML invalid) only once the model's own
    # validations passed, so a missing url is reported as such.
    response = put(sandbox.url, {"titles": [{"title": "No url"}]}, "publish")

    assert response.status_code == 422
    assert errors_by_source(response) == {"url": "Can't be blank"}


@pytest.mark.parametrize(
    "schema", ["http://datacite.org/schema/kernel-4", "http://datacite.org/schema/kernel-4.3"]
)
def test_new_doi_sent_with_a_kernel_4_schema_is_checked_field_by_field(sandbox, schema):
    # XmlSchemaValidator#get_valid_kernel maps these to kernel-4 and checks the DOI itself.
    attributes = {"url": "https://archive.example.org/x", "schemaVersion": schema}

    response = put(sandbox.url, attributes, "publish")

    assert response.status_code == 422
    assert "metadata" not in errors_by_source(response)
    assert {"creators", "titles", "publisher"} <= set(errors_by_source(response))


def test_publishing_an_existing_draft_reports_each_field(sandbox):
    # DataciteDoisController#update validates as the stored schema or kernel-4.
    put(sandbox.url, {"url": "https://archive.example.org/x"})

    response = put(sandbox.url, {}, "publish")

    assert response.status_code == 422
    assert set(errors_by_source(response)) == {
        "creators",
        "titles",
        "publisher",
        "publication_year",
        "types",
    }


@pytest.mark.parametrize("general", ["Poster", "Presentation", "Award", "Project"])
def test_resource_types_of_schemas_4_6_and_4_7_are_accepted(sandbox, general):
    # post_spec.rb "when the request uses schema 4.7 - json" publishes a Poster.
    attributes = kernel4_attributes(types={"resourceTypeGeneral": general})

    response = put(sandbox.url, attributes, "publish")

    assert response.status_code == 201
