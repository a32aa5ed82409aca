"""JSON Schemas (2020-12, as OpenAPI 3.1 uses them) of every body the API reads or writes."""

from __future__ import annotations

from typing import Any

from app.enums import DoiKind, DoiState, DoiTarget, HoldState, HoldTarget, JobStatus, StepStatus
from app.services.identifiers import NAME_PATTERN

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """`schema` or null."""
    return {"oneOf": [schema, {"type": "null"}]}


def obj(
    properties: dict[str, Schema], *, required: list[str] | None = None, closed: bool = False
) -> Schema:
    """An object schema; answers list every property, requests may be closed to unknown fields."""
    schema: Schema = {"type": "object", "properties": properties}
    schema["required"] = list(properties) if required is None else required
    if closed:
        schema["additionalProperties"] = False
    return schema


STRING: Schema = {"type": "string"}
BOOLEAN: Schema = {"type": "boolean"}
INTEGER: Schema = {"type": "integer"}
TIMESTAMP: Schema = {"type": "string", "format": "date-time"}
NAME: Schema = {
    "type": "string",
    "pattern": NAME_PATTERN.pattern,
    "x-expected": f"a name matching {NAME_PATTERN.pattern}",
}
METADATA: Schema = {
    "type": "object",
    "description": "DataCite attributes (JSON:API `data.attributes`); "
    "must be kernel-4 valid when published findable",
}


def _enum(values: Any) -> Schema:
    return {"type": "string", "enum": [member.value for member in values]}


ANSWERS: dict[str, Schema] = {
    "Error": obj(
        {
            "error": obj(
                {
                    "code": {
                        **STRING,
                        "description": "stable machine-readable code, e.g. invalid_input",
                    },
                    "message": {
                        **STRING,
                        "description": "what went wrong and what to do, for people",
                    },
                    "details": {"description": "the failing field(s), or null"},
                }
            )
        }
    ),
    "DoiBrief": obj({"doi": STRING, "state": _enum(DoiState), "target": _enum(DoiTarget)}),
    "Version": obj(
        {
            "version": STRING,
            "deleted": BOOLEAN,
            "created_at": TIMESTAMP,
            "doi": nullable(ref("DoiBrief")),
            "holds": obj(
                {
                    "on": {**INTEGER, "description": "blob versions whose legal hold is on"},
                    "total": {**INTEGER, "description": "blob versions the version references"},
                }
            ),
        }
    ),
    "Dataset": obj(
        {
            "id": NAME,
            "embargoed": BOOLEAN,
            "deleted": BOOLEAN,
            "metadata": METADATA,
            "concept_doi": nullable(ref("DoiBrief")),
            "versions": {"type": "array", "items": ref("Version")},
        }
    ),
    "Transition": obj(
        {
            "at": TIMESTAMP,
            "event": STRING,
            "from": _enum(DoiState),
            "to": _enum(DoiState),
            "intent_id": nullable(INTEGER),
            "http_status": nullable(INTEGER),
            "detail": nullable(STRING),
        }
    ),
    "Stash": obj(
        {
            "id": INTEGER,
            "intent_id": {**INTEGER, "description": "the destructive intent that took it"},
            "action": {"type": "string", "enum": ["delete", "hide"]},
            "found": {**BOOLEAN, "description": "false: the GET answered 404, nothing remote"},
            "remote_state": nullable(STRING),
            "url": nullable(STRING),
            "taken_at": TIMESTAMP,
            "expires_at": TIMESTAMP,
            "age_seconds": {"type": "number"},
            "expires_in_seconds": {"type": "number"},
            "expired": BOOLEAN,
            "warning": {
                **nullable(STRING),
                "description": "set when the stash is unreadable: it is treated as absent",
            },
        }
    ),
    "Doi": obj(
        {
            "doi": STRING,
            "kind": _enum(DoiKind),
            "dataset": STRING,
            "version": nullable(STRING),
            "state": _enum(DoiState),
            "target": _enum(DoiTarget),
            "attempts": INTEGER,
            "next_attempt_at": nullable(TIMESTAMP),
            "last_status": nullable(INTEGER),
            "last_error": nullable(STRING),
            "history": {"type": "array", "items": ref("Transition")},
            "stashes": {
                "type": "array",
                "description": "DataCite's record taken before each DELETE or hide, newest first",
                "items": ref("Stash"),
            },
        }
    ),
    "Step": obj(
        {
            "name": STRING,
            "status": _enum(StepStatus),
            "done": INTEGER,
            "total": INTEGER,
            "error": nullable(STRING),
            "problems": {
                "type": "array",
                "description": "the blob versions verification found wrong, and how",
                "items": obj({"key": STRING, "version_id": STRING, "problem": STRING}),
            },
        }
    ),
    "Hold": obj(
        {
            "key": STRING,
            "version_id": STRING,
            "state": _enum(HoldState),
            "target": _enum(HoldTarget),
            "release_reason": nullable(STRING),
            "last_error": nullable(STRING),
            "history": {
                "type": "array",
                "items": obj(
                    {
                        "at": TIMESTAMP,
                        "event": STRING,
                        "from": _enum(HoldState),
                        "to": _enum(HoldState),
                        "intent_id": nullable(INTEGER),
                        "detail": nullable(STRING),
                    }
                ),
            },
        }
    ),
    "Job": obj(
        {
            "id": INTEGER,
            "kind": STRING,
            "dataset": STRING,
            "version": nullable(STRING),
            "status": _enum(JobStatus),
            "created_at": TIMESTAMP,
            "finished_at": nullable(TIMESTAMP),
            "steps": {"type": "array", "items": ref("Step")},
        }
    ),
    "Publication": obj({"version": ref("Version"), "job": ref("Job")}),
    "Restored": {
        **obj(
            {
                "id": NAME,
                "embargoed": BOOLEAN,
                "deleted": BOOLEAN,
                "metadata": METADATA,
                "concept_doi": nullable(ref("DoiBrief")),
                "versions": {"type": "array", "items": ref("Version")},
                "restore": obj(
                    {
                        "versions": {"type": "array", "items": STRING},
                        "dois": {
                            "type": "array",
                            "items": obj(
                                {
                                    "doi": STRING,
                                    "was": _enum(DoiState),
                                    "source": {
                                        "type": "string",
                                        "enum": ["stash", "database"],
                                        "description": "where its metadata comes back from",
                                    },
                                    "stash": nullable(INTEGER),
                                    "warning": nullable(STRING),
                                }
                            ),
                        },
                        "warnings": {"type": "array", "items": STRING},
                    }
                ),
            }
        ),
        "description": "the dataset, and what the restore does to each DOI",
    },
    "Health": obj(
        {
            "status": {"type": "string", "enum": ["ok", "failing"]},
            "problems": {"type": "array", "items": obj({"check": STRING, "message": STRING})},
            "warnings": {
                "type": "array",
                "description": "worth knowing, needing no one now (e.g. data not protected)",
                "items": obj({"check": STRING, "message": STRING}),
            },
            "checks": {"type": "object", "description": "the measurements behind the verdict"},
        }
    ),
    "Liveness": obj({"status": {"type": "string", "enum": ["ok"]}}),
}

REQUESTS: dict[str, Schema] = {
    "Blob": obj(
        {
            "key": {
                "type": "string",
                "minLength": 1,
                "maxLength": 1024,
                "description": "S3 object key",
            },
            "version_id": {
                "type": "string",
                "minLength": 1,
                "maxLength": 1024,
                "description": "S3 version id",
            },
            "sha256": {
                "type": "string",
                "pattern": "^[0-9a-f]{64}$",
                "x-expected": "64 lowercase hexadecimal digits",
            },
            "size": {
                "type": "integer",
                "minimum": 0,
                "maximum": 2**63 - 1,
                "description": "bytes",
                "x-expected": "a non-negative integer (bytes)",
            },
        },
        closed=True,
    ),
    "CreateDataset": obj(
        {"id": NAME, "embargoed": {**BOOLEAN, "default": False}, "metadata": METADATA},
        required=["id"],
        closed=True,
    ),
    "UpdateMetadata": obj({"metadata": METADATA}, closed=True),
    "PublishVersion": obj(
        {
            "version": {
                **nullable(NAME),
                "description": "the version name; default 0.YYMMDD.HHMM (UTC)",
            },
            "metadata": METADATA,
            "blobs": {
                "type": "array",
                "items": ref("Blob"),
                "description": "no key/version_id twice",
            },
        },
        required=["metadata", "blobs"],
        closed=True,
    ),
    "RetryJob": obj(
        {
            "blobs": {
                "type": "array",
                "items": ref("Blob"),
                "description": "corrected records of blobs the job's version references",
            }
        },
        required=[],
        closed=True,
    ),
    "ReleaseHold": obj(
        {
            "key": {**STRING, "minLength": 1, "maxLength": 1024},
            "version_id": {**STRING, "minLength": 1, "maxLength": 1024},
            "reason": {**STRING, "minLength": 1, "description": "why; kept in the audit log"},
        },
        closed=True,
    ),
    "Retry": obj(
        {"reason": {**STRING, "description": "recorded in the DOI's history"}},
        required=[],
        closed=True,
    ),
}
