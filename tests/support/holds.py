"""Helpers for the legal-hold tests: real uploads to S3, and what S3 really holds (plain boto3)."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select

from app.models import Blob, Job, LegalHold
from app.runtime import Runtime


def upload(s3: Any, bucket: str, key: str, body: bytes, *, checksum: bool = True) -> dict[str, Any]:
    """Put one object version; returns the blob reference the archive would publish."""
    options = {"ChecksumAlgorithm": "SHA256"} if checksum else {}
    answer = s3.put_object(Bucket=bucket, Key=key, Body=body, **options)
    return {
        "key": key,
        "version_id": answer["VersionId"],
        "sha256": hashlib.sha256(body).hexdigest(),
        "size": len(body),
    }


def uploads(s3: Any, bucket: str, count: int, prefix: str = "data") -> list[dict[str, Any]]:
    """`count` small objects, each with a body of its own."""
    return [
        upload(s3, bucket, f"{prefix}/{n:04d}.csv", f"row,{n}\n".encode() * (n + 1))
        for n in range(count)
    ]


def legal_hold(s3: Any, bucket: str, blob: dict[str, Any]) -> str:
    """ON, OFF, or NONE (never set), as S3 answers GetObjectLegalHold."""
    try:
        answer = s3.get_object_legal_hold(
            Bucket=bucket, Key=blob["key"], VersionId=blob["version_id"]
        )
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] == "NoSuchObjectLegalHold":
            return "NONE"
        raise
    return str(answer["LegalHold"]["Status"])


def hold_states(runtime: Runtime) -> dict[str, str]:
    """key -> hold state, as doiflow records them."""
    with runtime.sessions() as session:
        rows = session.execute(select(Blob.key, LegalHold.state).join(LegalHold.blob)).all()
        return {key: state for key, state in rows}


def steps(runtime: Runtime, job_id: int) -> dict[str, dict[str, Any]]:
    """name -> {status, done, total, error, problems} of a job's steps."""
    with runtime.sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return {
            s.name: {
                "status": s.status,
                "done": s.done_count,
                "total": s.total_count,
                "error": s.error,
                "problems": s.problems,
            }
            for s in job.steps
        }
