"""Backup → wipe → restore round trips, on SQLite and PostgreSQL, and damaged or wrong-key files."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from qianshu import bootstrap, db
from qianshu.config import Settings
from qianshu.core import shredlist
from qianshu.core.clock import FrozenClock
from qianshu.core.errors import InvalidInput
from qianshu.core.runtime import Runtime
from qianshu.evidence import service as evidence_service
from qianshu.ops import service as ops_service
from qianshu.storage import service as storage_service
from qianshu.vault import service as vault_service

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


def _put_secrets_back(source: Settings, target: Settings) -> None:
    """What the operator does before a restore: put the deployment's secrets directory in place."""
    shutil.copytree(source.secrets_dir, target.secrets_dir, dirs_exist_ok=True)


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
    assert result.blobs >= 1 and result.rows > 0
    raw = out.read_bytes()
    assert b"%PDF" not in raw and b"ops.test" not in raw  # sealed: nothing readable inside
    assert not out.with_name(out.name + ".partial").exists()

    fresh = Settings(**{**settings.model_dump(), "data_dir": tmp_path / "restored", "database_url": empty_database_url})
    _put_secrets_back(settings, fresh)
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
    fresh = Settings(**{**settings.model_dump(), "data_dir": tmp_path / "restored", "database_url": empty_database_url})
    _put_secrets_back(settings, fresh)
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
    with pytest.raises(InvalidInput):
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


def _members(path: Path) -> dict[str, bytes]:
    from qianshu.ops.sealed_stream import SealedReader

    with (
        open(path, "rb") as fh,
        tarfile.open(fileobj=io.BufferedReader(SealedReader(fh, PASSPHRASE)), mode="r|") as tar,
    ):
        found = {}
        for member in tar:
            extracted = tar.extractfile(member)
            found[member.name] = extracted.read() if extracted else b""
        return found


def test_backup_holds_no_key_material(runtime: Runtime, settings: Settings, tmp_path: Path) -> None:
    _populate(runtime)
    with runtime.transaction() as s:  # a retention data key exists too
        vault_service.open_retention_sealer(session=s, clock=runtime.clock, subject_id="usr_backupkeys")
    out = tmp_path / "k.qsbak"
    ops_service.create_backup(runtime=runtime, out=out, passphrase=PASSPHRASE)
    members = _members(out)
    assert not [name for name in members if name.startswith("secrets/")]
    plaintext = b"".join(members.values())
    secrets = [p for p in settings.secrets_dir.rglob("*") if p.is_file() and p.stat().st_size >= 32]
    assert any("kek" in p.parts for p in secrets) and any(p.name == "blind-index.key" for p in secrets)
    for path in secrets:
        assert path.read_bytes()[:32] not in plaintext, path.name
    manifest = json.loads(members["manifest.json"])
    assert manifest["secrets"] == "excluded" and manifest["format"] == ops_service.BACKUP_FORMAT


def test_restore_without_the_secrets_is_refused_and_touches_nothing(
    runtime: Runtime, settings: Settings, tmp_path: Path, empty_database_url: str, clock: FrozenClock
) -> None:
    _populate(runtime)
    out = tmp_path / "n.qsbak"
    ops_service.create_backup(runtime=runtime, out=out, passphrase=PASSPHRASE)
    fresh = Settings(**{**settings.model_dump(), "data_dir": tmp_path / "restored", "database_url": empty_database_url})
    target = Runtime(fresh, clock=clock)
    try:
        with pytest.raises(ops_service.RestoreKeysMissing) as caught:
            ops_service.restore_backup(runtime=target, source=out, passphrase=PASSPHRASE)
        assert "vault/kek/kek_" in caught.value.detail_en
        assert not list(fresh.secrets_dir.rglob("*.key"))  # no fresh keys made up either
        assert db.current_revision(target.engine) is None  # refused before the schema was written
        _put_secrets_back(settings, fresh)
        ops_service.restore_backup(runtime=target, source=out, passphrase=PASSPHRASE)  # nothing half-done
        assert ops_service.verify_installation(runtime=target).ok
    finally:
        target.close()


def test_subjects_shredded_after_the_backup_stay_shredded(
    runtime: Runtime, settings: Settings, tmp_path: Path, empty_database_url: str, clock: FrozenClock
) -> None:
    kept, shredded, retained = "usr_keptkeptkeptkept", "usr_shredshredshred0", "usr_retainretain0000"
    sealed: dict[str, bytes] = {}
    with runtime.transaction() as s:
        for subject in (kept, shredded):
            vault_service.ensure_data_key(session=s, subject_id=subject)
            sealed[subject] = vault_service.encrypt_field(
                session=s, subject_id=subject, table="t", column="c", row_id="r1", value="张三 13912345678"
            )
        vault_service.open_retention_sealer(session=s, clock=clock, subject_id=retained)
    out = tmp_path / "s.qsbak"
    ops_service.create_backup(runtime=runtime, out=out, passphrase=PASSPHRASE)
    with runtime.transaction() as s:  # after the backup: a cancellation shreds a person
        vault_service.destroy_data_key(session=s, clock=clock, subject_id=shredded)
        vault_service.destroy_retention_key(session=s, clock=clock, subject_id=retained)
    listed = {e.subject_id for e in shredlist.entries(settings.secrets_dir)}
    assert shredded in listed and vault_service.RETENTION_PREFIX + retained in listed

    fresh = Settings(**{**settings.model_dump(), "data_dir": tmp_path / "restored", "database_url": empty_database_url})
    _put_secrets_back(settings, fresh)  # the secrets directory as it is now, shred list included
    target = Runtime(fresh, clock=clock)
    try:
        restored = ops_service.restore_backup(runtime=target, source=out, passphrase=PASSPHRASE)
        assert restored.shreds_reapplied == 2
        with target.transaction() as s:
            assert vault_service.is_shredded(session=s, subject_id=shredded)
            with pytest.raises(vault_service.DataShredded):
                vault_service.decrypt_field(
                    session=s, subject_id=shredded, table="t", column="c", row_id="r1", blob=sealed[shredded]
                )
            assert not vault_service.has_retention_key(session=s, subject_id=retained)
            assert (
                vault_service.decrypt_field(
                    session=s, subject_id=kept, table="t", column="c", row_id="r1", blob=sealed[kept]
                )
                == "张三 13912345678"
            )
    finally:
        target.close()


def test_shred_list_is_append_only_and_survives_a_torn_line(tmp_path: Path, clock: FrozenClock) -> None:
    secrets = tmp_path / "secrets"
    shredlist.record(secrets, subject_id="usr_a", key_id="dk_1", at=clock.now())
    shredlist.record(secrets, subject_id="usr_a", key_id="dk_1", at=clock.now())  # once only
    path = shredlist.path_for(secrets)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"subject_id": "usr_b", "key_')  # a crash mid-append
    shredlist.record(secrets, subject_id="usr_c", key_id="dk_3", at=clock.now())
    assert [e.subject_id for e in shredlist.entries(secrets)] == ["usr_a", "usr_c"]
    assert path.stat().st_mode & 0o777 == 0o600


def test_cli_backup_then_restore_with_the_secrets_put_back(tmp_path: Path, db_backend: str) -> None:
    if db_backend != "sqlite":
        pytest.skip("the commands' wiring; the round trip itself runs on both backends above")
    from typer.testing import CliRunner

    from qianshu.cli import app

    source, target = tmp_path / "source", tmp_path / "target"
    secret = tmp_path / "pass.txt"
    secret.write_text(PASSPHRASE + "\n", encoding="utf-8")
    base_env = {"QIANSHU_DEMO": "false", "QIANSHU_DATABASE_URL": "", "QIANSHU_BACKUP_PASSPHRASE": ""}
    runner = CliRunner()
    out = tmp_path / "cli.qsbak"
    made = runner.invoke(
        app,
        ["backup", "--out", str(out), "--passphrase-file", str(secret), "--data-dir", str(source)],
        env=base_env,
    )
    assert made.exit_code == 0, made.output
    assert "no keys inside" in made.output
    refused = runner.invoke(
        app, ["restore", "--in", str(out), "--passphrase-file", str(secret), "--data-dir", str(target)], env=base_env
    )
    assert isinstance(refused.exception, ops_service.RestoreKeysMissing)  # the keys are not in the backup
    assert "vault/blind-index.key" in refused.exception.detail_en  # main() prints it as one line, exit 1
    shutil.rmtree(target)
    shutil.copytree(source / "secrets", target / "secrets")
    restored = runner.invoke(
        app, ["restore", "--in", str(out), "--passphrase-file", str(secret), "--data-dir", str(target)], env=base_env
    )
    assert restored.exit_code == 0, restored.output
    assert "0 broken" in restored.output


def test_a_restore_failing_after_the_import_still_leaves_shredded_subjects_shredded(
    runtime: Runtime,
    settings: Settings,
    tmp_path: Path,
    empty_database_url: str,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shred list is applied in the import's own transaction, not in a step a failure can skip."""
    _populate(runtime)  # at least one blob: the step that fails comes after the rows are committed
    shredded = "usr_shredfailfailfai"
    with runtime.transaction() as s:
        vault_service.ensure_data_key(session=s, subject_id=shredded)
    out = tmp_path / "f.qsbak"
    ops_service.create_backup(runtime=runtime, out=out, passphrase=PASSPHRASE)
    with runtime.transaction() as s:
        vault_service.destroy_data_key(session=s, clock=clock, subject_id=shredded)

    fresh = Settings(**{**settings.model_dump(), "data_dir": tmp_path / "restored", "database_url": empty_database_url})
    _put_secrets_back(settings, fresh)
    target = Runtime(fresh, clock=clock)
    from qianshu.storage import providers

    real_store_for = providers.blob_store_for

    class _FullDisk:
        def __init__(self, store: object) -> None:
            self._store = store

        def put(self, *args: object, **kwargs: object) -> None:
            raise OSError(28, "No space left on device")

        def __getattr__(self, name: str) -> object:
            return getattr(self._store, name)

    monkeypatch.setattr(providers, "blob_store_for", lambda rt: _FullDisk(real_store_for(rt)))
    try:
        with pytest.raises(OSError, match="No space"):
            ops_service.restore_backup(runtime=target, source=out, passphrase=PASSPHRASE)
        with target.engine.connect() as conn:  # the rows are in, and the key is gone with them
            status, wrapped = conn.execute(
                text("SELECT status, wrapped_key FROM vault_data_key WHERE subject_id = :s"), {"s": shredded}
            ).one()
        assert (status, wrapped) == ("destroyed", None)
    finally:
        target.close()


def _as_format1(backup: Path, secrets_dir: Path, dest: Path) -> None:
    """Rewrite a backup the way format 1 wrote it: the secrets directory inside, under secrets/."""
    from qianshu.ops.sealed_stream import SealedWriter

    members = _members(backup)
    manifest = json.loads(members.pop("manifest.json"))
    manifest.update(format=1, secrets="included")
    end = members.pop("end.json")
    with open(dest, "wb") as fh:
        writer = SealedWriter(fh, PASSPHRASE)
        with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            entries = [("manifest.json", json.dumps(manifest).encode()), *members.items()]
            entries += [
                (f"secrets/{p.relative_to(secrets_dir).as_posix()}", p.read_bytes())
                for p in sorted(secrets_dir.rglob("*"))
                if p.is_file()
            ]
            for name, data in [*entries, ("end.json", end)]:
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o600
                tar.addfile(info, io.BytesIO(data))
        writer.close()


def test_a_format1_backup_brings_back_the_secrets_the_directory_lacks(
    runtime: Runtime, settings: Settings, tmp_path: Path, empty_database_url: str, clock: FrozenClock
) -> None:
    blob_id, content, head = _populate(runtime)
    out = tmp_path / "two.qsbak"
    ops_service.create_backup(runtime=runtime, out=out, passphrase=PASSPHRASE)
    old = tmp_path / "one.qsbak"
    _as_format1(out, settings.secrets_dir, old)

    fresh = Settings(**{**settings.model_dump(), "data_dir": tmp_path / "restored", "database_url": empty_database_url})
    target = Runtime(fresh, clock=clock)  # no secrets directory at all: format 1 carries it
    try:
        restored = ops_service.restore_backup(runtime=target, source=old, passphrase=PASSPHRASE)
        assert restored.secrets_restored > 0
        originals = sorted(p.relative_to(settings.secrets_dir) for p in settings.secrets_dir.rglob("*") if p.is_file())
        for rel in originals:
            put_back = fresh.secrets_dir / rel
            assert put_back.read_bytes() == (settings.secrets_dir / rel).read_bytes(), rel
            assert put_back.stat().st_mode & 0o077 == 0, rel
        bootstrap.prepare(target)
        assert ops_service.verify_installation(runtime=target).ok
        with target.transaction() as s:
            assert storage_service.read_blob_bytes(session=s, blob_id=blob_id) == content
            assert evidence_service.chain_head(session=s, stream="system") == head
    finally:
        target.close()


def test_a_format1_backup_of_another_deployment_is_refused_before_anything_is_written(
    runtime: Runtime, settings: Settings, tmp_path: Path, empty_database_url: str, clock: FrozenClock
) -> None:
    _populate(runtime)
    out = tmp_path / "two.qsbak"
    ops_service.create_backup(runtime=runtime, out=out, passphrase=PASSPHRASE)
    old = tmp_path / "one.qsbak"
    _as_format1(out, settings.secrets_dir, old)

    fresh = Settings(**{**settings.model_dump(), "data_dir": tmp_path / "restored", "database_url": empty_database_url})
    _put_secrets_back(settings, fresh)
    other = fresh.secrets_dir / "vault" / "blind-index.key"
    other.write_bytes(b"\x01" * len(other.read_bytes()))  # a different deployment's key in place
    target = Runtime(fresh, clock=clock)
    try:
        with pytest.raises(ops_service.RestoreKeysMissing) as caught:
            ops_service.restore_backup(runtime=target, source=old, passphrase=PASSPHRASE)
        assert "vault/blind-index.key" in caught.value.detail_en
        assert other.read_bytes() == b"\x01" * len(other.read_bytes())
        assert db.current_revision(target.engine) is None  # not even migrated
    finally:
        target.close()
