"""Envelope encryption of personal data: per-subject data keys, blind indexes, crypto-shredding.

Each person or organisation (the *subject*) gets one random AES-256 data key. Field values are
sealed under it in the format of `vault.envelope`, bound to subject, table, column and row. The
data key is stored only wrapped by a key-encryption key (KEK) from the keyring; rotating the KEK
re-wraps data keys and leaves every ciphertext as it is. Destroying a subject's data key makes all
of their fields unreadable at once (crypto-shredding).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.core import shredlist
from qianshu.core.clock import Clock
from qianshu.core.ids import new_id
from qianshu.core.logging import get_logger
from qianshu.core.runtime import Runtime, runtime_of
from qianshu.db import insert_if_absent
from qianshu.vault import envelope
from qianshu.vault.errors import DataShredded, KeyMissing, VaultIntegrityError
from qianshu.vault.keyring import Keyring, open_file_keyring
from qianshu.vault.models import DataKey
from qianshu.vault.normalise import normalise

__all__ = [
    "RETENTION_PREFIX",
    "SYSTEM_SUBJECT",
    "DataShredded",
    "KeyMissing",
    "KeyStatus",
    "RetentionKeyStatus",
    "RetentionSealer",
    "RotationResult",
    "VaultIntegrityError",
    "blind_index",
    "create_retention_key",
    "decrypt_bytes",
    "decrypt_field",
    "destroy_data_key",
    "destroy_retention_key",
    "encrypt_bytes",
    "encrypt_field",
    "ensure_data_key",
    "ensure_keys",
    "erase_platform_retention_private_key",
    "has_retention_key",
    "is_shredded",
    "key_status",
    "keyring",
    "load_retention_private_key",
    "open_retained",
    "open_retention_sealer",
    "retention_key_dir",
    "retention_key_status",
    "rotate_kek",
    "take_platform_retention_private_key",
]

log = get_logger("qianshu.vault")

SYSTEM_SUBJECT = "sys_platform"
_ACTIVE, _DESTROYED = "active", "destroyed"
_REWRAP_BATCH = 500


@dataclass(frozen=True)
class RotationResult:
    """What `rotate_kek` did: the new current KEK, how many data keys it re-wrapped, what it retired."""

    new_kid: str
    rewrapped: int
    retired: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class KeyStatus:
    """The KEK ring: the current kid, and how many live data keys each kid wraps."""

    current_kid: str | None
    data_keys_by_kid: dict[str, int]
    destroyed_data_keys: int


def _build_keyring(runtime: Runtime) -> Keyring:
    ring, _created = open_file_keyring(runtime.settings.secrets_dir)
    return ring


def keyring(runtime: Runtime) -> Keyring:
    """Return the runtime's keyring component (`vault.keyring`)."""
    return runtime.component("vault.keyring", _build_keyring)


def ensure_keys(*, runtime: Runtime) -> str | None:
    """Create the KEK ring and blind-index key on first start; say so once."""
    ring, created = open_file_keyring(runtime.settings.secrets_dir)
    runtime.set_component("vault.keyring", ring)
    if not created:
        return None
    log.info("vault_keys_created", count=len(created))
    return (
        f"已生成密钥 / vault keys created: {', '.join(created)} in {runtime.settings.secrets_dir / 'vault'}"
        " — 请备份该目录 / back this folder up"
    )


def _wrap_context(key_id: str, subject_id: str) -> bytes:
    return envelope.length_prefixed(key_id, subject_id)


_ROWS_SEEN = "qianshu.vault.rows_seen"


def _seen(session: Session) -> dict[str, DataKey]:
    """Data-key rows this transaction has read or changed, by subject id and by key id.

    A request seals and opens a dozen fields of one subject; the session's identity map holds rows
    only weakly, so without these references every field would read the key row again. The objects
    are the transaction's own (destroy_data_key changes them in place), so status checks still hold;
    a new transaction (commit, rollback) starts with an empty map and reads the rows afresh.
    """
    transaction = session.get_transaction()
    seen: tuple[object, dict[str, DataKey]] | None = session.info.get(_ROWS_SEEN)
    if seen is None or seen[0] is not transaction:
        seen = (transaction, {})
        session.info[_ROWS_SEEN] = seen
    return seen[1]


def _remember(session: Session, row: DataKey) -> DataKey:
    if session.get_transaction() is not None:
        seen = _seen(session)
        seen["s:" + row.subject_id] = seen["k:" + row.id] = row
    return row


def _row_for(session: Session, subject_id: str) -> DataKey | None:
    row = _seen(session).get("s:" + subject_id)
    if row is not None and row in session:
        return row
    row = session.scalar(select(DataKey).where(DataKey.subject_id == subject_id))
    return None if row is None else _remember(session, row)


def _row_by_id(session: Session, key_id: str) -> DataKey | None:
    row = _seen(session).get("k:" + key_id)
    if row is not None and row in session:
        return row
    row = session.get(DataKey, key_id)
    return None if row is None else _remember(session, row)


def _shredded(subject_id: str) -> DataShredded:
    return DataShredded("该主体的数据密钥已销毁，数据无法恢复", detail_en="The subject's data key was destroyed")


def ensure_data_key(*, session: Session, subject_id: str) -> None:
    """Create the subject's data key unless it exists; raise DataShredded if it was destroyed."""
    if _platform_key(session, subject_id) is None:
        _active_row(session, subject_id)


class _PlatformKey:
    """The platform subject's data key, unwrapped once per process (`vault.platform_key`).

    Nearly every write seals something under the platform subject (contract titles and contacts,
    messages, network logs): reading and unwrapping its key row in every transaction was a query
    and a key unwrap per request. The platform key is never shredded (it keeps what outlives the
    accounts) and re-wrapping it under a new KEK leaves the data key itself unchanged, so the
    unwrapped key stays valid for the life of the process; the KEK ring sits in the same memory.
    Only a row already committed is kept: it is read in a transaction of its own, with no lock
    held (two threads may both unwrap it once; a thread holding a pooled connection never waits
    on another that needs one).
    """

    def __init__(self) -> None:
        self.key: tuple[str, bytes] | None = None  # (key id, data key)


_PLATFORM_MISS = "qianshu.vault.platform_key_missing"


def _platform_key(session: Session, subject_id: str) -> tuple[str, bytes] | None:
    """Return the platform subject's committed (key id, data key), or None (another subject, or none yet)."""
    if subject_id != SYSTEM_SUBJECT:
        return None
    runtime = runtime_of(session)
    held = runtime.component("vault.platform_key", lambda _rt: _PlatformKey())
    if held.key is not None:
        return held.key
    if session.info.get(_PLATFORM_MISS):  # asked once already: this session makes or uses the row itself
        return None
    with runtime.transaction() as s:
        row = s.scalar(select(DataKey).where(DataKey.subject_id == SYSTEM_SUBJECT))
        if row is not None and row.status == _ACTIVE and row.wrapped_key is not None and row.kek_id is not None:
            held.key = (row.id, _data_key(s, row))
            return held.key
    session.info[_PLATFORM_MISS] = True  # made (and then kept) by the first transaction that seals something
    return None


def _active_row(session: Session, subject_id: str) -> DataKey:
    row = _row_for(session, subject_id)
    if row is None:
        runtime = runtime_of(session)
        key_id = new_id("dk")
        data_key = os.urandom(envelope.KEY_BYTES)
        kek_id, wrapped = keyring(runtime).wrap(data_key, context=_wrap_context(key_id, subject_id))
        insert_if_absent(
            session,
            DataKey,
            {
                "id": key_id,
                "subject_id": subject_id,
                "status": _ACTIVE,
                "kek_id": kek_id,
                "wrapped_key": wrapped,
                "created_at": runtime.clock.now(),
            },
        )
        row = _row_for(session, subject_id)
        assert row is not None
    if row.status != _ACTIVE or row.wrapped_key is None or row.kek_id is None:
        raise _shredded(subject_id)
    return row


def _data_key(session: Session, row: DataKey) -> bytes:
    assert row.kek_id is not None and row.wrapped_key is not None
    return keyring(runtime_of(session)).unwrap(
        row.kek_id, row.wrapped_key, context=_wrap_context(row.id, row.subject_id)
    )


def encrypt_bytes(*, session: Session, subject_id: str, table: str, column: str, row_id: str, value: bytes) -> bytes:
    """Seal `value` under the subject's data key, bound to table, column and row."""
    place = envelope.Place(subject_id=subject_id, table=table, column=column, row_id=row_id)
    platform = _platform_key(session, subject_id)
    if platform is not None:
        return envelope.seal(key=platform[1], key_id=platform[0], place=place, plaintext=value)
    row = _active_row(session, subject_id)
    return envelope.seal(key=_data_key(session, row), key_id=row.id, place=place, plaintext=value)


def decrypt_bytes(*, session: Session, subject_id: str, table: str, column: str, row_id: str, blob: bytes) -> bytes:
    """Open a sealed value; raise DataShredded after shredding, VaultIntegrityError when misplaced."""
    parsed = envelope.parse(bytes(blob))
    platform = _platform_key(session, subject_id)
    if platform is not None and platform[0] == parsed.key_id:
        place = envelope.Place(subject_id=subject_id, table=table, column=column, row_id=row_id)
        return envelope.open_envelope(key=platform[1], envelope=parsed, place=place)
    row = _row_by_id(session, parsed.key_id)
    if row is None or row.subject_id != subject_id:
        raise VaultIntegrityError("密文不属于该主体", detail_en="The ciphertext belongs to another subject")
    if row.status != _ACTIVE or row.wrapped_key is None or row.kek_id is None:
        raise _shredded(subject_id)
    place = envelope.Place(subject_id=subject_id, table=table, column=column, row_id=row_id)
    return envelope.open_envelope(key=_data_key(session, row), envelope=parsed, place=place)


def encrypt_field(*, session: Session, subject_id: str, table: str, column: str, row_id: str, value: str) -> bytes:
    """Seal the text `value` (UTF-8) under the subject's data key."""
    return encrypt_bytes(
        session=session,
        subject_id=subject_id,
        table=table,
        column=column,
        row_id=row_id,
        value=value.encode("utf-8"),
    )


def decrypt_field(*, session: Session, subject_id: str, table: str, column: str, row_id: str, blob: bytes) -> str:
    """Open a sealed text field."""
    raw = decrypt_bytes(session=session, subject_id=subject_id, table=table, column=column, row_id=row_id, blob=blob)
    return raw.decode("utf-8")


def blind_index(*, session: Session, kind: str, value: str) -> str:
    """Return the hex HMAC-SHA256 blind index of the normalised `value` for lookups by `kind`."""
    return keyring(runtime_of(session)).blind(kind, normalise(kind, value))


def is_shredded(*, session: Session, subject_id: str) -> bool:
    """Tell whether the subject's data key was destroyed."""
    row = _row_for(session, subject_id)
    return row is not None and row.status == _DESTROYED


def destroy_data_key(*, session: Session, clock: Clock, subject_id: str) -> None:
    """Erase the subject's data key, leaving a tombstone so no new key is ever made for them."""
    if subject_id == SYSTEM_SUBJECT:  # it seals what outlives the accounts, and processes hold it (_PlatformKey)
        raise ValueError("the platform subject's data key is never destroyed")
    row = _row_for(session, subject_id)
    now = clock.now()
    if row is None:
        insert_if_absent(
            session,
            DataKey,
            {
                "id": new_id("dk"),
                "subject_id": subject_id,
                "status": _DESTROYED,
                "created_at": now,
                "destroyed_at": now,
            },
        )
        row = _row_for(session, subject_id)
        assert row is not None
    if row.status != _DESTROYED:
        row.status, row.kek_id, row.wrapped_key, row.destroyed_at = _DESTROYED, None, None, now
    session.flush()
    runtime = runtime_of(session)
    shredlist.record(runtime.settings.secrets_dir, subject_id=subject_id, key_id=row.id, at=now)  # for restores
    keyring(runtime).forget()
    log.info("vault_data_key_destroyed", key_id=row.id)


def rotate_kek(*, runtime: Runtime, retire_old: bool = False) -> RotationResult:
    """Make a new current KEK and re-wrap every live data key with it; ciphertexts stay untouched."""
    ring = keyring(runtime)
    new = ring.store.create()
    ring.store.set_current(new.kid)
    rewrapped = 0
    while True:
        with runtime.transaction() as s:
            rows = list(
                s.scalars(
                    select(DataKey)
                    .where(DataKey.status == _ACTIVE, DataKey.kek_id != new.kid)
                    .where(~DataKey.subject_id.startswith(RETENTION_PREFIX))  # sealed to the retention key
                    .order_by(DataKey.id)
                    .limit(_REWRAP_BATCH)
                    .with_for_update()
                )
            )
            if not rows:
                break
            now = runtime.clock.now()
            for row in rows:
                context = _wrap_context(row.id, row.subject_id)
                assert row.kek_id is not None and row.wrapped_key is not None
                data_key = ring.unwrap(row.kek_id, row.wrapped_key, context=context)
                row.wrapped_key, row.kek_id, row.rewrapped_at = (
                    new.wrap(data_key, context=context),
                    new.kid,
                    now,
                )
            rewrapped += len(rows)
    retired: list[str] = []
    if retire_old:
        in_use = key_status(runtime=runtime).data_keys_by_kid
        for kid in ring.store.kids():
            if kid != new.kid and not in_use.get(kid):
                ring.store.destroy(kid)
                retired.append(kid)
    ring.forget()
    log.info("vault_kek_rotated", kid=new.kid, rewrapped=rewrapped, retired=len(retired))
    return RotationResult(new_kid=new.kid, rewrapped=rewrapped, retired=retired)


def key_status(*, runtime: Runtime) -> KeyStatus:
    """Report the KEK ring and how many data keys depend on each KEK."""
    ring = keyring(runtime)
    with runtime.transaction() as s:
        rows = s.execute(
            select(DataKey.kek_id, func.count()).where(DataKey.status == _ACTIVE).group_by(DataKey.kek_id)
        ).all()
        destroyed = s.scalar(select(func.count()).select_from(DataKey).where(DataKey.status == _DESTROYED)) or 0
    by_kid = {kid: 0 for kid in ring.store.kids()}
    by_kid.update({str(kid): int(n) for kid, n in rows if kid is not None})
    return KeyStatus(current_kid=ring.store.current_kid(), data_keys_by_kid=by_kid, destroyed_data_keys=int(destroyed))


# --- retention keys (privacy, promise P7) ---------------------------------------------------
# Records a cancelled person's signing history needs (kept by law after crypto-shredding) are
# sealed under a per-person *retention data key*. That key is wrapped to an X25519 public key
# whose private half the service never loads: it seals but cannot open. Opening needs the private
# key handed in explicitly (a lawful request, handled offline); destroying the row ends it all.

RETENTION_PREFIX = "ret:"
_RETENTION_LABEL = b"qianshu.vault.retention.v1"
_RETENTION_KID_FILE, _RETENTION_PUB_FILE, _RETENTION_PRIV_FILE = "KID", "public.key", "private.key"


def retention_key_dir(runtime: Runtime) -> Path:
    """Return the folder of the retention public key (the private key never belongs there)."""
    configured = getattr(runtime.settings, "retention_key_dir", None)
    return Path(configured) if configured else runtime.settings.secrets_dir / "vault" / "retention"


@dataclass(frozen=True)
class RetentionKeyStatus:
    """Whether the platform can seal retained records, and whether a private key is wrongly left on it."""

    kid: str | None
    private_key_on_platform: bool


def retention_key_status(*, runtime: Runtime) -> RetentionKeyStatus:
    """Report the retention public key's id (None: not set up) and any private key left on the platform."""
    folder = retention_key_dir(runtime)
    kid, _fingerprint = _read_kid_file(folder)
    return RetentionKeyStatus(kid=kid, private_key_on_platform=(folder / _RETENTION_PRIV_FILE).exists())


def _read_kid_file(folder: Path) -> tuple[str | None, str | None]:
    """Return the KID file's key id and the public key's fingerprint it names (None: absent, or an older file)."""
    path = folder / _RETENTION_KID_FILE
    lines = path.read_text(encoding="ascii").split() if path.exists() else []
    return (lines[0] if lines else None), (lines[1] if len(lines) > 1 else None)


def _fingerprint(raw_public: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw_public).hexdigest()


def _write_new(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def create_retention_key(
    *,
    runtime: Runtime,
    replace: bool = False,
    hand_over: Callable[[str, bytes], None] | None = None,
) -> tuple[str, bytes]:
    """Make a retention key pair; keep only the public half; return (kid, private key as PKCS#8 PEM).

    The caller hands the private key to the operator once and forgets it: the platform can then seal
    retained records but never open them. `hand_over(kid, pem)` runs before the public key is
    installed, so if it fails the old key (or none) stays in force. An exclusive lock on the folder
    makes concurrent callers take turns: exactly one installs, the others find its key. With
    `replace`, records sealed earlier still need the old private key (each data key names the kid
    it was wrapped to).
    """
    folder = retention_key_dir(runtime)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    lock_fd = os.open(folder, os.O_RDONLY)  # flock on the folder itself: no extra file
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        status = retention_key_status(runtime=runtime)
        if status.kid is not None and not replace:
            raise VaultIntegrityError(
                "留存密钥已存在", detail_en="A retention key exists already (replace it explicitly)"
            )
        private = X25519PrivateKey.generate()
        pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        raw_pub = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        kid = new_id("rtk")
        if hand_over is not None:
            hand_over(kid, pem)
        # Two files, each replaced atomically, but not together: the KID file names the public key's
        # fingerprint, so a crash between the two (or a reader in between) is refused when sealing
        # instead of wrapping to one key under the other's id.
        _write_new(folder / _RETENTION_PUB_FILE, raw_pub)
        _write_new(folder / _RETENTION_KID_FILE, f"{kid}\n{_fingerprint(raw_pub)}\n".encode("ascii"))
    finally:
        os.close(lock_fd)  # releases the lock
    log.warning("vault_retention_key_created", kid=kid)
    return kid, pem


def take_platform_retention_private_key(*, runtime: Runtime) -> tuple[str, bytes] | None:
    """Return (kid, PEM) of a private key an older version left next to the public key, or None.

    Call `erase_platform_retention_private_key` once the operator has it.
    """
    folder = retention_key_dir(runtime)
    status = retention_key_status(runtime=runtime)
    if not status.private_key_on_platform or status.kid is None:
        return None
    raw = (folder / _RETENTION_PRIV_FILE).read_bytes()
    private = X25519PrivateKey.from_private_bytes(load_retention_private_key(raw))
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    if public != (folder / _RETENTION_PUB_FILE).read_bytes():
        raise VaultIntegrityError(
            "平台上的留存私钥与公钥不匹配", detail_en="The private key left on the platform is not the public key's"
        )
    return status.kid, private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def erase_platform_retention_private_key(*, runtime: Runtime) -> None:
    """Overwrite and delete a private key left on the platform (after it was handed to the operator)."""
    path = retention_key_dir(runtime) / _RETENTION_PRIV_FILE
    if path.exists():
        size = path.stat().st_size
        with open(path, "r+b") as fh:
            fh.write(os.urandom(size))
            fh.flush()
            os.fsync(fh.fileno())
        path.unlink()
        log.warning("vault_retention_private_key_erased")


def load_retention_private_key(data: bytes) -> bytes:
    """Return the raw X25519 private key from a PKCS#8 PEM file (or 32 raw bytes)."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    if len(data) == 32:
        return data
    try:
        key = load_pem_private_key(data.strip() + b"\n", password=None)
    except (ValueError, TypeError):
        raise VaultIntegrityError(
            "不是有效的留存私钥文件", detail_en="Not a retention private key (PKCS#8 PEM, X25519)"
        ) from None
    if not isinstance(key, X25519PrivateKey):
        raise VaultIntegrityError("不是 X25519 留存私钥", detail_en="Not an X25519 retention private key")
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def _retention_public(runtime: Runtime) -> tuple[str, X25519PublicKey]:
    folder = retention_key_dir(runtime)
    kid, fingerprint = _read_kid_file(folder)  # read once: the id and the fingerprint it names belong together
    if kid is None:
        raise KeyMissing(
            "留存公钥未配置：请先运行 qianshu privacy retention-key init --out <离线路径>",
            detail_en="No retention public key: run `qianshu privacy retention-key init --out <offline path>`",
        )
    if (folder / _RETENTION_PRIV_FILE).exists():
        raise KeyMissing(
            "留存私钥仍在平台上：请运行 qianshu privacy retention-key hand-over --out <离线路径>",
            detail_en="The retention private key is still on the platform: run "
            "`qianshu privacy retention-key hand-over --out <offline path>`",
        )
    raw = (folder / _RETENTION_PUB_FILE).read_bytes()
    if fingerprint is not None and fingerprint != _fingerprint(raw):
        raise VaultIntegrityError(
            "留存公钥与其密钥标识不符：请运行 qianshu privacy retention-key init --replace --out <离线路径>",
            detail_en="The retention public key does not match its key id (an interrupted replacement?): run "
            "`qianshu privacy retention-key init --replace --out <offline path>`",
        )
    return kid, X25519PublicKey.from_public_bytes(raw)


def _retention_kek(shared: bytes, eph_pub: bytes, recipient_pub: bytes, context: bytes) -> bytes:
    """Derive the wrapping key with HKDF-SHA256 (RFC 5869) over the X25519 (RFC 7748) secret."""
    info = envelope.length_prefixed(_RETENTION_LABEL, eph_pub, recipient_pub, context)
    return HKDF(algorithm=hashes.SHA256(), length=envelope.KEY_BYTES, salt=None, info=info).derive(shared)


class RetentionSealer:
    """Seals one subject's retained values under their fresh retention data key (then forgets it)."""

    def __init__(self, subject_id: str, key_id: str, key: bytes) -> None:
        self.subject_id, self.key_id, self._key = subject_id, key_id, key

    def seal(self, *, table: str, column: str, row_id: str, value: bytes) -> bytes:
        """Seal `value` in the vault envelope format, bound to the retention subject and place."""
        place = envelope.Place(subject_id=RETENTION_PREFIX + self.subject_id, table=table, column=column, row_id=row_id)
        return envelope.seal(key=self._key, key_id=self.key_id, place=place, plaintext=value)


def open_retention_sealer(*, session: Session, clock: Clock, subject_id: str) -> RetentionSealer:
    """Create the subject's retention data key, wrapped to the retention public key, and return a sealer."""
    subject = RETENTION_PREFIX + subject_id
    if _row_for(session, subject) is not None:
        raise VaultIntegrityError("该主体已有留存密钥", detail_en="The subject already has a retention key")
    kid, public = _retention_public(runtime_of(session))
    key_id, data_key = new_id("dk"), os.urandom(envelope.KEY_BYTES)
    eph = X25519PrivateKey.generate()
    eph_pub = eph.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    recipient = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    context = _wrap_context(key_id, subject)
    nonce = os.urandom(envelope.NONCE_BYTES)
    kek = _retention_kek(eph.exchange(public), eph_pub, recipient, context)
    wrapped = eph_pub + nonce + AESGCM(kek).encrypt(nonce, data_key, context)
    insert_if_absent(
        session,
        DataKey,
        {
            "id": key_id,
            "subject_id": subject,
            "status": _ACTIVE,
            "kek_id": kid,
            "wrapped_key": wrapped,
            "created_at": clock.now(),
        },
    )
    session.flush()
    return RetentionSealer(subject_id, key_id, data_key)


def open_retained(
    *,
    session: Session,
    subject_id: str,
    table: str,
    column: str,
    row_id: str,
    blob: bytes,
    private_key: bytes,
) -> bytes:
    """Open a retained value with the offline retention private key (lawful disclosure only)."""
    subject = RETENTION_PREFIX + subject_id
    parsed = envelope.parse(bytes(blob))
    row = session.get(DataKey, parsed.key_id)
    if row is None or row.subject_id != subject:
        raise VaultIntegrityError("密文不属于该主体", detail_en="The ciphertext belongs to another subject")
    if row.status != _ACTIVE or row.wrapped_key is None:
        raise _shredded(subject_id)
    private = X25519PrivateKey.from_private_bytes(load_retention_private_key(private_key))
    eph_pub, nonce, sealed = row.wrapped_key[:32], row.wrapped_key[32:44], row.wrapped_key[44:]
    recipient = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    context = _wrap_context(row.id, subject)
    kek = _retention_kek(private.exchange(X25519PublicKey.from_public_bytes(eph_pub)), eph_pub, recipient, context)
    try:
        data_key = AESGCM(kek).decrypt(nonce, sealed, context)
    except InvalidTag:
        raise VaultIntegrityError("留存密钥无法解封", detail_en="The retention key did not unwrap") from None
    place = envelope.Place(subject_id=subject, table=table, column=column, row_id=row_id)
    return envelope.open_envelope(key=data_key, envelope=parsed, place=place)


def destroy_retention_key(*, session: Session, clock: Clock, subject_id: str) -> None:
    """Erase the subject's retention data key: everything kept under it becomes unreadable for good."""
    row = _row_for(session, RETENTION_PREFIX + subject_id)
    if row is None or row.status == _DESTROYED:
        return
    row.status, row.kek_id, row.wrapped_key, row.destroyed_at = _DESTROYED, None, None, clock.now()
    session.flush()
    shredlist.record(  # kept outside the database, so a restore cannot bring the key back
        runtime_of(session).settings.secrets_dir, subject_id=row.subject_id, key_id=row.id, at=clock.now()
    )
    log.info("vault_retention_key_destroyed", key_id=row.id)


def has_retention_key(*, session: Session, subject_id: str) -> bool:
    """Tell whether the subject has a live retention data key."""
    row = _row_for(session, RETENTION_PREFIX + subject_id)
    return row is not None and row.status == _ACTIVE
