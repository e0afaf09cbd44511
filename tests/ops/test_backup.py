"""Backup → wipe → restore round trips, on SQLite and PostgreSQL, and damaged or wrong-key files."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from qianshu import bootstrap
from qianshu.config import Settings
from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from qianshu.evidence import service as evidence_service
from qianshu.ops import service as ops_service
from qianshu.storage import service as storage_service

PASSPHRASE = "correct horse battery staple 签署"


@pytest.fixture
def empty_database_url(db_backend: str, tmp_path: Path, database_url: str) -> Iterator[str]:
    """A second, completely empty database of the same backend (the restore target)."""
    if db_backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored' / 'qianshu.db'}"
        return
    admin_url = make_url(database_url).set(database="postgres")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"qs_r_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _populate(runtime: Runtime) -> tuple[str, bytes, str]:
    content = b"%PDF-1.7\n" + bytes(range(256)) * 600  # ~150 KiB, several chunks
    with runtime.transaction() as s:
        blob = storage_service.store_blob(
            session=s,
            clock=runtime.clock,
            owner_id="sys_platform",
            stream=content,
            media_type="application/pdf",
        )
        for n in range(3):
            evidence_service.record_event(
                session=s,
                clock=runtime.clock,
                stream="system",
                actor="system",
                action="ops.test",
                data={"n": n},
            )
    with runtime.transaction() as s:
        head = evidence_service.chain_head(session=s, stream="system")
    return blob.id, content, head


def test_round_trip_restores_and_verifies(
    runtime: Runtime, settings: Settings, tmp_path: Path, empty_database_url: str, clock: FrozenClock
) -> None:
    blob_id, content, head = _populate(runtime)
    out = tmp_path / "backups" / "qianshu.qsbak"
    result = ops_service.create_backup(runtime=runtime, out=out, passphrase=PASSPHRASE)
    assert result.blobs >= 1 and result.rows > 0 and result.secrets >= 2
    raw = out.read_bytes()
    assert b"%PDF" not in raw and b"ops.test" not in raw  # sealed: nothing readable inside
    assert not out.with_name(out.name + ".partial").exists()

    fresh = Settings(
        **{**settings.model_dump(), "data_dir": tmp_path / "restored", "database_url": empty_database_url}
    )
    target = Runtime(fresh, clock=clock)
    try:
        restored = ops_service.restore_backup(runtime=target, source=out, passphrase=PASSPHRASE)
        assert restored.rows == result.rows and restored.blobs == result.blobs
        bootstrap.prepare(target)  # startup hooks find the restored keys and CA
        check = ops_service.verify_installation(runtime=target)
        assert check.ok, (check.chain_breaks, check.blob_failures)
        assert check.blobs_ok >= 1 and check.events >= 3
        with target.transaction() as s:
            assert storage_service.read_blob_bytes(session=s, blob_id=blob_id) == content
            assert evidence_service.chain_head(session=s, stream="system") == head
        # A second restore over the now non-empty target is refused, nothing touched.
        with pytest.raises(ops_service.RestoreTargetNotEmpty):
            ops_service.restore_backup(runtime=target, source=out, passphrase=PASSPHRASE)
    finally:
        target.close()


def test_wrong_passphrase_and_damage_are_refused(
    runtime: Runtime, tmp_path: Path, empty_database_url: str, settings: Settings, clock: FrozenClock
) -> None:
    _populate(runtime)
    out = tmp_path / "b.qsbak"
    ops_service.create_backup(runtime=runtime, out=out, passphrase=PASSPHRASE)
    fresh = Settings(
        **{**settings.model_dump(), "data_dir": tmp_path / "restored", "database_url": empty_database_url}
    )
    target = Runtime(fresh, clock=clock)
    try:
        with pytest.raises(ops_service.BackupInvalid):
            ops_service.restore_backup(runtime=target, source=out, passphrase="not the passphrase")
        damaged = tmp_path / "damaged.qsbak"
        data = bytearray(out.read_bytes())
        data[len(data) // 2] ^= 0x01
        damaged.write_bytes(bytes(data))
        with pytest.raises(ops_service.BackupInvalid):
            ops_service.restore_backup(runtime=target, source=damaged, passphrase=PASSPHRASE)
        truncated = tmp_path / "truncated.qsbak"
        truncated.write_bytes(out.read_bytes()[:-40])
        with pytest.raises(ops_service.BackupInvalid):
            ops_service.restore_backup(runtime=target, source=truncated, passphrase=PASSPHRASE)
        not_backup = tmp_path / "x.qsbak"
        not_backup.write_bytes(b"hello")
        with pytest.raises(ops_service.BackupInvalid):
            ops_service.restore_backup(runtime=target, source=not_backup, passphrase=PASSPHRASE)
        # Nothing was half-written: the target is still empty and restores cleanly now.
        ops_service.restore_backup(runtime=target, source=out, passphrase=PASSPHRASE)
        assert ops_service.verify_installation(runtime=target).ok
    finally:
        target.close()


def test_empty_passphrase_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    with pytest.raises(ops_service.InvalidInput):
        ops_service.create_backup(runtime=runtime, out=tmp_path / "x", passphrase="")


def test_tampered_blob_is_reported(runtime: Runtime, settings: Settings) -> None:
    blob_id, _content, _ = _populate(runtime)
    from qianshu.storage.providers import blob_store_for

    store = blob_store_for(runtime)
    data = bytearray(store.read(blob_id))
    data[-5] ^= 0x10
    store.put(blob_id, bytes(data))
    check = ops_service.verify_installation(runtime=runtime)
    assert not check.ok and any(blob_id in f for f in check.blob_failures)
