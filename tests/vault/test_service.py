"""Envelope encryption, blind indexes, crypto-shredding and KEK rotation."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from qianshu.config import Settings
from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from qianshu.vault import service as vault_service
from qianshu.vault.keyring import FileKek, FileKekStore, KekStore, KeyEncryptionKey
from qianshu.vault.models import DataKey


def _enc(
    session: Session, subject: str, value: str, *, table: str = "t", column: str = "c", row: str = "r"
) -> bytes:
    return vault_service.encrypt_field(
        session=session, subject_id=subject, table=table, column=column, row_id=row, value=value
    )


def _dec(
    session: Session, subject: str, blob: bytes, *, table: str = "t", column: str = "c", row: str = "r"
) -> str:
    return vault_service.decrypt_field(
        session=session, subject_id=subject, table=table, column=column, row_id=row, blob=blob
    )


def test_encrypt_then_decrypt_round_trips(session: Session) -> None:
    blob = _enc(session, "usr_alice", "张三 13812345678")
    assert b"13812345678" not in blob
    assert _dec(session, "usr_alice", blob) == "张三 13812345678"


def test_bytes_round_trip(session: Session) -> None:
    blob = vault_service.encrypt_bytes(
        session=session, subject_id="usr_alice", table="t", column="img", row_id="r", value=b"\x00\xffdata"
    )
    assert (
        vault_service.decrypt_bytes(
            session=session, subject_id="usr_alice", table="t", column="img", row_id="r", blob=blob
        )
        == b"\x00\xffdata"
    )


@pytest.mark.parametrize(
    "where",
    [{"table": "other"}, {"column": "email"}, {"row": "r2"}],
)
def test_a_ciphertext_moved_to_another_row_or_column_fails(session: Session, where: dict[str, str]) -> None:
    blob = _enc(session, "usr_alice", "13812345678")
    with pytest.raises(vault_service.VaultIntegrityError):
        _dec(session, "usr_alice", blob, **where)


def test_a_ciphertext_moved_to_another_person_fails(session: Session) -> None:
    blob = _enc(session, "usr_alice", "13812345678")
    _enc(session, "usr_bob", "other")
    with pytest.raises(vault_service.VaultIntegrityError):
        _dec(session, "usr_bob", blob)


def test_one_data_key_per_subject_stored_only_wrapped(session: Session) -> None:
    _enc(session, "usr_alice", "a")
    _enc(session, "usr_alice", "b")
    _enc(session, "org_acme", "c")
    rows = list(session.scalars(select(DataKey).order_by(DataKey.subject_id)))
    assert [r.subject_id for r in rows] == ["org_acme", "usr_alice"]
    assert all(r.wrapped_key is not None and len(r.wrapped_key) == 12 + 32 + 16 for r in rows)


def test_shredding_makes_every_field_of_the_subject_unreadable(session: Session, clock: FrozenClock) -> None:
    phone = _enc(session, "usr_alice", "13812345678", column="phone")
    name = _enc(session, "usr_alice", "张三", column="name")
    other = _enc(session, "usr_bob", "13900000000", column="phone")
    vault_service.destroy_data_key(session=session, clock=clock, subject_id="usr_alice")
    for blob, column in ((phone, "phone"), (name, "name")):
        with pytest.raises(vault_service.DataShredded) as caught:
            _dec(session, "usr_alice", blob, column=column)
        assert caught.value.status == 410
    assert _dec(session, "usr_bob", other, column="phone") == "13900000000"
    row = session.scalar(select(DataKey).where(DataKey.subject_id == "usr_alice"))
    assert row is not None and row.wrapped_key is None and row.kek_id is None and row.status == "destroyed"
    assert vault_service.is_shredded(session=session, subject_id="usr_alice")


def test_a_shredded_subject_never_gets_a_new_key(session: Session, clock: FrozenClock) -> None:
    vault_service.destroy_data_key(session=session, clock=clock, subject_id="usr_gone")
    with pytest.raises(vault_service.DataShredded):
        _enc(session, "usr_gone", "new data")
    with pytest.raises(vault_service.DataShredded):
        vault_service.ensure_data_key(session=session, subject_id="usr_gone")


def test_shredding_survives_a_fresh_process(runtime: Runtime, settings: Settings, clock: FrozenClock) -> None:
    with runtime.transaction() as s:
        blob = _enc(s, "usr_alice", "13812345678")
        vault_service.destroy_data_key(session=s, clock=clock, subject_id="usr_alice")
    fresh = Runtime(settings, clock=clock)
    try:
        with fresh.transaction() as s, pytest.raises(vault_service.DataShredded):
            _dec(s, "usr_alice", blob)
    finally:
        fresh.close()


def test_kek_rotation_rewraps_keys_and_the_old_kek_is_no_longer_needed(
    runtime: Runtime, settings: Settings, clock: FrozenClock
) -> None:
    with runtime.transaction() as s:
        blobs = {subject: _enc(s, subject, f"secret of {subject}") for subject in ("usr_a", "usr_b", "org_c")}
        before = {r.subject_id: (r.kek_id, r.wrapped_key) for r in s.scalars(select(DataKey))}
    old_kid = vault_service.keyring(runtime).store.current_kid()
    result = vault_service.rotate_kek(runtime=runtime, retire_old=True)
    assert result.rewrapped == 3 and result.new_kid != old_kid and result.retired == [old_kid]
    kek_dir = settings.secrets_dir / "vault" / "kek"
    assert not (kek_dir / f"{old_kid}.key").exists()
    with runtime.transaction() as s:
        after = {r.subject_id: (r.kek_id, r.wrapped_key) for r in s.scalars(select(DataKey))}
    assert all(after[k][0] == result.new_kid and after[k][1] != before[k][1] for k in before)
    fresh = Runtime(settings, clock=clock)  # a new process: only the new KEK is on disk
    try:
        with fresh.transaction() as s:
            for subject, blob in blobs.items():
                assert _dec(s, subject, blob) == f"secret of {subject}"
    finally:
        fresh.close()


def test_rotation_without_retiring_keeps_the_old_kek(runtime: Runtime) -> None:
    with runtime.transaction() as s:
        _enc(s, "usr_a", "x")
    old_kid = vault_service.keyring(runtime).store.current_kid()
    result = vault_service.rotate_kek(runtime=runtime)
    status = vault_service.key_status(runtime=runtime)
    assert status.current_kid == result.new_kid
    assert status.data_keys_by_kid == {old_kid: 0, result.new_kid: 1}


def test_a_missing_kek_is_reported_not_guessed(
    runtime: Runtime, settings: Settings, clock: FrozenClock
) -> None:
    with runtime.transaction() as s:
        blob = _enc(s, "usr_a", "x")
    kid = vault_service.keyring(runtime).store.current_kid()
    (settings.secrets_dir / "vault" / "kek" / f"{kid}.key").unlink()
    fresh = Runtime(settings, clock=clock)
    try:
        with fresh.transaction() as s, pytest.raises(vault_service.KeyMissing):
            _dec(s, "usr_a", blob)
    finally:
        fresh.close()


def test_blind_index_normalises_phone_numbers(session: Session) -> None:
    variants = [
        "13812345678",
        "+86 138-1234-5678",
        "8613812345678",
        "0086 138 1234 5678",
        "１３８１２３４５６７８",
    ]
    indexes = {vault_service.blind_index(session=session, kind="phone", value=v) for v in variants}
    assert len(indexes) == 1
    assert vault_service.blind_index(session=session, kind="phone", value="13812345679") not in indexes


def test_blind_index_normalises_email_addresses(session: Session) -> None:
    a = vault_service.blind_index(session=session, kind="email", value=" Zhang.San@Example.COM ")
    b = vault_service.blind_index(session=session, kind="email", value="zhang.san@example.com")
    assert a == b and len(a) == 64 and int(a, 16) >= 0


def test_blind_index_separates_kinds_and_is_keyed(
    runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    with runtime.transaction() as s:
        as_phone = vault_service.blind_index(session=s, kind="phone", value="13812345678")
        as_text = vault_service.blind_index(session=s, kind="note", value="13812345678")
    assert as_phone != as_text
    other = Runtime(Settings(data_dir=tmp_path / "elsewhere", database_url=settings.database_url))
    try:
        vault_service.ensure_keys(runtime=other)
        with other.transaction() as s:
            assert vault_service.blind_index(session=s, kind="phone", value="13812345678") != as_phone
    finally:
        other.close()


def test_ensure_keys_creates_private_files_once(tmp_path: Path) -> None:
    rt = Runtime(Settings(data_dir=tmp_path / "d"))
    try:
        message = vault_service.ensure_keys(runtime=rt)
        assert message is not None and "kek_" in message
        assert vault_service.ensure_keys(runtime=rt) is None
        vault_dir = rt.settings.secrets_dir / "vault"
        files = [p for p in vault_dir.rglob("*") if p.is_file()]
        assert {p.name for p in files} >= {"blind-index.key", "CURRENT"}
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
        for folder in (vault_dir, vault_dir / "kek"):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert vault_service.keyring(rt) is rt.component("vault.keyring", lambda _rt: None)
    finally:
        rt.close()


def test_file_backends_satisfy_the_kek_protocols(tmp_path: Path) -> None:
    store = FileKekStore(tmp_path / "kek")
    assert isinstance(store, KekStore)
    kek = store.create()
    assert isinstance(kek, FileKek) and isinstance(kek, KeyEncryptionKey)
    wrapped = kek.wrap(b"k" * 32, context=b"ctx")
    assert kek.unwrap(wrapped, context=b"ctx") == b"k" * 32
    with pytest.raises(vault_service.VaultIntegrityError):
        kek.unwrap(wrapped, context=b"other")
