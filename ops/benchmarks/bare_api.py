"""The anchor for `api.py`: a bare Flask endpoint writing what `POST /api/datasets` writes.

    gunicorn "ops.benchmarks.bare_api:create_app()"   (DATABASE_URL from the environment)

One transaction with SQLAlchemy Core, no authentication, no ORM: the dataset row, its
concept DOI row, the outbox intent and `NOTIFY doiflow_outbox`, then a 201 with the
dataset's JSON shape. It is what the hardware allows for the same rows, not a design.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from flask import Flask, request
from sqlalchemy import create_engine, insert, text

from app.models import Base

DATASETS = Base.metadata.tables["datasets"]
DOIS = Base.metadata.tables["dois"]
OUTBOX = Base.metadata.tables["outbox"]
PREFIX_INSTANCE = "10.80507/bench"


def create_app() -> Flask:
    """The bare app over DATABASE_URL (a plain engine: no pre-ping)."""
    url = os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    app = Flask(__name__)

    @app.post("/api/datasets")
    def create_dataset() -> tuple[dict[str, Any], int]:
        body = request.get_json()
        dataset_id = str(body["id"])
        now = datetime.now(UTC)
        doi = f"{PREFIX_INSTANCE}.{dataset_id}".lower()
        with engine.begin() as conn:
            conn.execute(
                insert(DATASETS).values(
                    id=dataset_id,
                    embargoed=bool(body.get("embargoed", False)),
                    draft_metadata=body.get("metadata", {}),
                    created_at=now,
                    updated_at=now,
                )
            )
            doi_id = conn.execute(
                insert(DOIS)
                .values(
                    doi=doi,
                    kind="concept",
                    dataset_id=dataset_id,
                    state="pending",
                    target="draft",
                    attempts=0,
                    created_at=now,
                    updated_at=now,
                    row_version=1,
                )
                .returning(DOIS.c.id)
            ).scalar_one()
            conn.execute(
                insert(OUTBOX).values(
                    created_at=now,
                    updated_at=now,
                    topic="sync_doi",
                    queue="doi",
                    key=f"doi:{doi_id}",
                    payload={"doi_id": doi_id},
                    status="pending",
                    attempts=0,
                    available_at=now,
                )
            )
            conn.execute(text("NOTIFY doiflow_outbox"))
        answer = {
            "id": dataset_id,
            "embargoed": bool(body.get("embargoed", False)),
            "deleted": False,
            "metadata": body.get("metadata", {}),
            "concept_doi": {"doi": doi, "state": "pending", "target": "draft"},
            "versions": [],
        }
        return answer, 201

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
