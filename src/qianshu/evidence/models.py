"""Tables of the audit trail: hash-chained events and the purgeable network log.

`audit_event` is append-only: the mapper refuses updates and deletes here, and migration 0003
installs triggers that refuse them in the database too. `network_log` holds the IP address and
user agent of a request, encrypted through the vault, and is purged after its retention period;
events keep the log's id (no foreign key) so that purging never touches the chain.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, LargeBinary, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from qianshu.db import Base


class AuditEvent(Base):
    """One state change: who did what to which object, when, chained to the stream's previous event."""

    __tablename__ = "audit_event"
    __table_args__ = (UniqueConstraint("stream", "seq", name="uq_audit_event_stream_seq"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    stream: Mapped[str] = mapped_column(String(80))
    seq: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(80), index=True)
    object_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    network_log_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime]
    prev_hash: Mapped[str] = mapped_column(String(64))
    event_hash: Mapped[str] = mapped_column(String(64))


class NetworkLog(Base):
    """Where a request came from (IP, user agent), encrypted; purged after the retention period."""

    __tablename__ = "network_log"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    subject_id: Mapped[str] = mapped_column(String(32))  # the vault key that encrypts ip/user_agent
    ip: Mapped[bytes] = mapped_column(LargeBinary)
    user_agent: Mapped[bytes] = mapped_column(LargeBinary)


class AppendOnlyError(RuntimeError):
    """Code tried to change or delete a row of an append-only table."""


def _refuse(_mapper: Any, _connection: Any, target: Any) -> None:
    raise AppendOnlyError(f"{type(target).__tablename__} is append-only")


event.listen(AuditEvent, "before_update", _refuse)
event.listen(AuditEvent, "before_delete", _refuse)


# --- transparency log (evidence/translog.py; RFC 6962 tree served as C2SP tlog-tiles) ---------


class TlogEntry(Base):
    """One log entry: canonical JSON, pending until the sequencer gives it an index."""

    __tablename__ = "tlog_entry"

    # Arrival order; INTEGER on SQLite so that it autoincrements (the rowid).
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(32), unique=True)  # public handle `tle_…`
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)  # RFC 6962 §2.1 leaf hash
    body: Mapped[bytes] = mapped_column(LargeBinary)  # the leaf data: canonical JSON, UTF-8
    entry_type: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True, nullable=True)  # None while pending
    created_at: Mapped[datetime]
    sequenced_at: Mapped[datetime | None] = mapped_column(nullable=True)


class TlogTile(Base):
    """A hash tile (C2SP tlog-tiles): up to 256 subtree hashes of one level, grown until full."""

    __tablename__ = "tlog_tile"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tile_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    width: Mapped[int] = mapped_column(Integer)
    hashes: Mapped[bytes] = mapped_column(LargeBinary)  # width × 32 bytes


class TlogCheckpoint(Base):
    """A signed checkpoint (C2SP tlog-checkpoint), one per tree size the log has published."""

    __tablename__ = "tlog_checkpoint"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class TlogLease(Base):
    """The sequencer lease: the process holding it (until `expires_at`) alone extends the log."""

    __tablename__ = "tlog_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(64), nullable=True)
    epoch: Mapped[int] = mapped_column(BigInteger, default=0)  # bumped on every takeover (fencing)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    renewed_at: Mapped[datetime | None] = mapped_column(nullable=True)


# --- preservation (存证), evidence reports (出证) and their deliveries (evidence/preservation.py, reports.py)


class Preservation(Base):
    """A file (or only its SHA-256) preserved: time-stamped, logged and certified by the platform.

    The file itself is an encrypted blob (storage); its label (file name) is sealed by the vault
    under the owner's key. The time-stamp token and the log entry id are what the certificate
    and the evidence bundle are built from.
    """

    __tablename__ = "evidence_preservation"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # prs_…
    owner_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # file | hash
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    media_type: Mapped[str | None] = mapped_column(String(255), nullable=True)
    label_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    blob_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    tst: Mapped[bytes] = mapped_column(LargeBinary)  # RFC 3161 TimeStampToken (CMS ContentInfo, DER)
    tst_time: Mapped[datetime]
    log_entry_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # pending | certified
    log_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    certificate_blob_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    certificate_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    signer_cert_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime]
    certified_at: Mapped[datetime | None] = mapped_column(nullable=True)


class EvidenceReport(Base):
    """A request for an evidence report on one subject, its decision and the issued, signed PDF."""

    __tablename__ = "evidence_report"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # rpt_…
    subject_kind: Mapped[str] = mapped_column(String(16))  # preservation | contract
    subject_id: Mapped[str] = mapped_column(String(32), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # party | authority
    requested_by: Mapped[str] = mapped_column(String(32), index=True)
    authority_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    authority_name: Mapped[str | None] = mapped_column(String(200), nullable=True)  # a public body
    reference_no: Mapped[str | None] = mapped_column(String(100), nullable=True)
    request_document_blob_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    note_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # requested | approved | rejected | issued
    decided_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    decision_reason_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    report_blob_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    report_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    signer_cert_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    log_entry_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime]
    issued_at: Mapped[datetime | None] = mapped_column(nullable=True)


class EvidenceDelivery(Base):
    """One handing-over of a report or bundle to an outside body (PROMISES P9): who, what, why, when."""

    __tablename__ = "evidence_delivery"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # dlv_…
    report_id: Mapped[str] = mapped_column(String(32), index=True)
    subject_id: Mapped[str] = mapped_column(String(32), index=True)
    recipient: Mapped[str] = mapped_column(String(200))
    recipient_kind: Mapped[str] = mapped_column(String(16))
    item: Mapped[str] = mapped_column(String(32))  # report_pdf | bundle
    purpose: Mapped[str] = mapped_column(String(200))
    delivered_by: Mapped[str] = mapped_column(String(32))
    delivered_at: Mapped[datetime]
    sharing_id: Mapped[str | None] = mapped_column(String(40), nullable=True)


event.listen(EvidenceDelivery, "before_update", _refuse)
event.listen(EvidenceDelivery, "before_delete", _refuse)


# --- audit-chain anchors (evidence/anchors.py) -------------------------------------------------


class AuditAnchor(Base):
    """One audit stream's head as anchored in the transparency log: the stream's hash, length and head."""

    __tablename__ = "audit_anchor"
    __table_args__ = (UniqueConstraint("stream", "seq", name="uq_audit_anchor_stream_seq"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # anc_…
    stream: Mapped[str] = mapped_column(String(80), index=True)  # never logged: the entry has its hash
    stream_hash: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)  # the chain's length when anchored (seq of its head)
    head_hash: Mapped[str] = mapped_column(String(64))
    log_entry_id: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime]


event.listen(AuditAnchor, "before_update", _refuse)
event.listen(AuditAnchor, "before_delete", _refuse)
