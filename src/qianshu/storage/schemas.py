"""Pydantic shapes of the blob store handed to other domains."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class BlobRead(BaseModel):
    """A stored blob: its id, owner, media type, and the size and SHA-256 (hex) of its plaintext."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    owner_id: str
    media_type: str
    size: int
    sha256: str
    created_at: datetime


class SweepResult(BaseModel):
    """What the orphan sweep removed: objects without a blob row, and abandoned uploads."""

    orphans_deleted: int
    incomplete_discarded: int
