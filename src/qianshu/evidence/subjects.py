"""What an evidence report or bundle can be about: a registry of subject kinds.

A subject kind ("preservation" now, "contract" once the contracts domain exists) is served by a
module exposing two functions, found lazily by name so that no domain imports another's tables:

- `evidence_subject(*, session, subject_id) -> SubjectSummary | None`: who the parties are
  (they may request reports and see deliveries) and how to name the subject; cheap.
- `evidence_material(*, session, subject_id) -> SubjectMaterial`: everything a report and a
  bundle need: files, time-stamp tokens, log entries, audit streams, signer certificates.

The contracts domain plugs in by providing those two functions in `qianshu.contracts.service`
(or by calling `register_subject_kind("contract", "<module>")`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from qianshu.core.errors import InvalidInput, NotFound

__all__ = [
    "SubjectFile",
    "SubjectMaterial",
    "SubjectSummary",
    "SubjectTimestamp",
    "get_material",
    "get_subject",
    "get_subject_or_raise",
    "register_subject_kind",
    "subject_kinds",
]

_PROVIDERS: dict[str, str] = {
    "preservation": "qianshu.evidence.preservation",
    "contract": "qianshu.contracts.service",
}


@dataclass(frozen=True)
class SubjectSummary:
    """A subject as reports see it: kind, id, a title and the parties (user ids, the data subjects)."""

    kind: str
    id: str
    title: str
    parties: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True)
class SubjectFile:
    """One file of the subject, with the path it takes in a bundle and its role there."""

    path: str
    data: bytes
    role: str  # original | signed_pdf
    label: str  # what the report calls it


@dataclass(frozen=True)
class SubjectTimestamp:
    """An RFC 3161 token of the subject: over `imprint_sha256`, of the bundle file `covers` if any."""

    name: str
    token: bytes
    imprint_sha256: str
    covers: str | None
    label: str


@dataclass(frozen=True)
class SubjectMaterial:
    """Everything reports and bundles need about one subject."""

    summary: SubjectSummary
    facts: list[tuple[str, str]]  # (label, value) rows describing the object, for the report
    files: list[SubjectFile]
    timestamps: list[SubjectTimestamp]
    log_entries: list[tuple[str, str]]  # (name, tle_… entry id)
    audit_streams: list[str]
    certificate_ids: list[str]  # pki certificates of the signers (platform included)
    extra: dict[str, Any] = field(default_factory=dict)


def register_subject_kind(kind: str, module: str) -> None:
    """Serve subject `kind` from `module` (which defines evidence_subject and evidence_material)."""
    _PROVIDERS[kind] = module


def subject_kinds() -> list[str]:
    """Return the kinds whose provider module is importable now."""
    return [kind for kind in _PROVIDERS if _provider(kind) is not None]


def _provider(kind: str) -> Any | None:
    name = _PROVIDERS.get(kind)
    if name is None:
        return None
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return None
    if not hasattr(module, "evidence_subject") or not hasattr(module, "evidence_material"):
        return None
    return module


def _provider_or_raise(kind: str) -> Any:
    provider = _provider(kind)
    if provider is None:
        raise InvalidInput(f"不支持的出证对象类型：{kind}", detail_en=f"Unsupported subject kind {kind!r}")
    return provider


def get_subject(*, session: Session, kind: str, subject_id: str) -> SubjectSummary | None:
    """Return the subject, or None when it does not exist."""
    summary: SubjectSummary | None = _provider_or_raise(kind).evidence_subject(session=session, subject_id=subject_id)
    return summary


def get_subject_or_raise(*, session: Session, kind: str, subject_id: str) -> SubjectSummary:
    """Return the subject or raise NotFound."""
    found = get_subject(session=session, kind=kind, subject_id=subject_id)
    if found is None:
        raise NotFound("未找到出证对象", detail_en="No such subject")
    return found


def get_material(*, session: Session, kind: str, subject_id: str) -> SubjectMaterial:
    """Return the subject's evidence material (files, tokens, log entries, audit streams)."""
    material: SubjectMaterial = _provider_or_raise(kind).evidence_material(session=session, subject_id=subject_id)
    return material
