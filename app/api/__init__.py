"""The JSON API for the archive's backend: bearer tokens, one error shape, OpenAPI document."""

from __future__ import annotations

# Importing the view modules adds their routes to the blueprint.
from app.api import blobs, datasets, dois, health, jobs, openapi
from app.api.blueprint import bp

__all__ = ["blobs", "bp", "datasets", "dois", "health", "jobs", "openapi"]
