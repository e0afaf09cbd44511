"""Operations: readiness checks, encrypted backups and their restore, and post-restore verification.

A backup is a tar stream sealed with the operator's passphrase (`ops.sealed_stream`):

    manifest.json              format, dialect, Alembic revision, tables, settings that matter
    db/<table>.jsonl           one consistent snapshot of every table, one JSON row per line
    blobs/<key>                every object of the blob store, still encrypted per file
    end.json                   row and object counts, checked on restore

No key material is in a backup: the secrets directory (KEK ring, blind-index key, sealed CA keys,
the retention key) is kept by the operator apart from the backups, and must be in place before a
restore. The backup holds data keys only wrapped by those KEKs, so a stolen backup and passphrase
alone open no personal data, and a data key destroyed later (crypto-shredding) cannot come back:
a restore re-applies the shred list kept with the secrets (`core.shredlist`) in the same
transaction that imports the rows. Older format-1 backups did carry the secrets directory; a
restore puts back the files of it the directory lacks, never replacing one in place.

The database snapshot is consistent: SQLite is copied with the online backup API (sqlite3
`Connection.backup`) and read from that copy; PostgreSQL is read table by table in one
REPEATABLE READ transaction. The rows are written in a logical, typed JSON form, so a backup
restores into either backend (SQLite to PostgreSQL is a supported migration path).

Restore decrypts and authenticates the whole file into a staging folder first, checks the keys the
backup needs are in the secrets directory, then imports every table and re-applies the shred list
in one transaction into an empty database, and writes the objects. Key material held by a PKCS#11
token is not in the backup either: back the token up with the HSM's own tools.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Connection, Engine, MetaData, Table, func, select, text
from sqlalchemy.pool import NullPool
from sqlalchemy.types import DateTime

from qianshu import db
from qianshu.config import Settings
from qianshu.core.errors import Conflict, InvalidInput, ServiceUnavailable
from qianshu.core.ids import new_id
from qianshu.core.logging import get_logger
from qianshu.core.runtime import Runtime
from qianshu.ops.sealed_stream import BadBackupFile, SealedReader, SealedWriter

__all__ = [
    "BACKUP_FORMAT",
    "BackupInvalid",
    "BackupResult",
    "CheckResult",
    "DependencyUnreachable",
    "Readiness",
    "RestoreKeysMissing",
    "RestoreResult",
    "RestoreTargetNotEmpty",
    "VerifyResult",
    "create_backup",
    "preflight",
    "readiness",
    "restore_backup",
    "sandbox_secrets_in_use",
    "verify_installation",
]

log = get_logger("qianshu.ops")

BACKUP_FORMAT = 2  # 2: no secrets inside; 1 (older) held the secrets directory: missing files come back
_READABLE_FORMATS = {1, 2}
_SKIP_TABLES = {"alembic_version"}
_BATCH = 500
_PROBE_KEY = "qs-readyz-probe"


class BackupInvalid(InvalidInput):
    """The backup file is damaged, not a backup, or the passphrase is wrong."""

    slug = "backup-invalid"
    title = "备份文件无效或口令错误"
    title_en = "The backup file is invalid or the passphrase is wrong"


class RestoreKeysMissing(InvalidInput):
    """The secrets directory lacks keys the backup's data is wrapped or sealed with."""

    slug = "restore-keys-missing"
    title = "恢复所需的密钥不在密钥目录中"
    title_en = "The keys this backup needs are not in the secrets directory"


class RestoreTargetNotEmpty(Conflict):
    """A backup restores only into an empty database and data directory."""

    slug = "restore-target-not-empty"
    title = "恢复目标不是空的"
    title_en = "The restore target is not empty"


# --- start-up refusals -----------------------------------------------------------------------

# (backend setting, its secret) pairs: a real provider (`http`) must not share the sandbox's secret.
_PROVIDER_SECRETS = (
    ("sms_backend", "sms_hmac_secret"),
    ("identity_backend", "identity_hmac_secret"),
    ("bank_backend", "bank_hmac_secret"),
)


def sandbox_secrets_in_use(settings: Settings) -> list[str]:
    """Name the provider secrets still at their published sandbox default while that provider is real.

    Anyone who read this source knows the default, so with `*_backend=http` it would let them forge
    the provider's signed callbacks (delivery reports, verification results).
    """
    found = []
    for backend, secret in _PROVIDER_SECRETS:
        if getattr(settings, backend, None) != "http":
            continue
        default = Settings.model_fields[secret].default
        current = getattr(settings, secret)
        if current.get_secret_value() == default.get_secret_value():
            found.append(secret)
    return found


# --- readiness ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """One dependency check: its name, whether it passed, a short detail and how long it took."""

    name: str
    ok: bool
    detail: str
    millis: float


@dataclass(frozen=True)
class Readiness:
    """Every dependency check; ready when all passed."""

    checks: list[CheckResult]

    @property
    def ok(self) -> bool:
        """Tell whether every check passed."""
        return all(c.ok for c in self.checks)


def _check_database(runtime: Runtime) -> str:
    with runtime.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    revision = db.current_revision(runtime.engine)
    return f"{runtime.engine.dialect.name} revision {revision}"


def _check_storage(runtime: Runtime) -> str:
    from qianshu.storage.providers import blob_store_for

    store = blob_store_for(runtime)
    store.exists(_PROBE_KEY)  # a HEAD request on S3: proves the bucket is reachable and ours to read
    return store.backend


def _check_broker(runtime: Runtime) -> str:
    settings = runtime.settings
    parts = []
    if settings.jobs_backend == "dramatiq":
        from qianshu.jobs import dramatiq_backend

        parts.append(f"dramatiq/{dramatiq_backend.check_broker(runtime)}")
    else:
        parts.append("database queue")
    if settings.redis_url:
        import redis

        client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
        parts.append("redis")
    return ", ".join(parts)


def _check_custody(runtime: Runtime) -> str:
    from qianshu.pki.custody import custody_for

    custody = custody_for(runtime)
    custody.get("qianshu-readyz-probe")  # a lookup inside the token/key folder; None is fine
    return runtime.settings.custody_backend


CHECKS: dict[str, Callable[[Runtime], str]] = {
    "database": _check_database,
    "storage": _check_storage,
    "broker": _check_broker,
    "custody": _check_custody,
}


def readiness(runtime: Runtime) -> Readiness:
    """Reach the database, blob store, broker and key custody; report each (never raises)."""
    results = []
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            detail, ok = check(runtime), True
        except Exception as exc:  # a failed dependency is a result, not an error
            detail_en = getattr(exc, "detail_en", None)
            detail, ok = (str(detail_en) if detail_en else type(exc).__name__), False
            log.warning("readiness_check_failed", check=name, error_type=type(exc).__name__)
        results.append(CheckResult(name, ok, detail[:200], round((time.perf_counter() - started) * 1000, 1)))
    return Readiness(results)


class DependencyUnreachable(ServiceUnavailable):
    """A dependency named by a setting cannot be reached at start-up; the message names the setting."""

    slug = "dependency-unreachable"
    title = "启动失败：依赖服务不可达"
    title_en = "Start-up failed: a dependency is unreachable"


def _reason(exc: Exception) -> str:
    detail_en = getattr(exc, "detail_en", None)
    if detail_en:
        return str(detail_en)
    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error
    return type(orig if isinstance(orig, Exception) else exc).__name__


def _preflight_database(runtime: Runtime) -> None:
    url = runtime.settings.effective_database_url
    if url.startswith("sqlite"):
        return
    # A short connect timeout: a black-holed host fails the start-up instead of hanging it.
    probe = db.make_engine(url, connect_args={"connect_timeout": 10}, poolclass=NullPool)
    try:
        with probe.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        probe.dispose()


def _preflight_storage(runtime: Runtime) -> None:
    from qianshu.storage.providers import blob_store_for

    store = blob_store_for(runtime)
    if store.backend == "s3":
        next(iter(store.iter_objects()), None)  # ListObjectsV2: a missing bucket fails, a HEAD would not
    else:
        store.exists(_PROBE_KEY)


def _preflight_broker(runtime: Runtime) -> None:
    settings = runtime.settings
    if settings.redis_url:
        import redis

        client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=5, socket_timeout=5)
        try:
            client.ping()
        finally:
            client.close()
    if settings.jobs_backend == "dramatiq" and (settings.broker_url or not settings.redis_url):
        from qianshu.jobs import dramatiq_backend

        dramatiq_backend.check_broker(runtime)  # also refuses a missing QIANSHU_BROKER_URL


def _preflight_custody(runtime: Runtime) -> None:
    _check_custody(runtime)  # opens the token (PIN) or the key folder


def _redis_setting(settings: Settings) -> str:
    if settings.jobs_backend == "dramatiq" and settings.broker_url:
        return "QIANSHU_REDIS_URL / QIANSHU_BROKER_URL" if settings.redis_url else "QIANSHU_BROKER_URL"
    return "QIANSHU_REDIS_URL"


def _storage_setting(settings: Settings) -> str:
    if settings.blob_backend == "s3":
        return "QIANSHU_S3_BUCKET / QIANSHU_S3_ENDPOINT_URL / QIANSHU_S3_ACCESS_KEY_ID"
    return "QIANSHU_DATA_DIR"


def _custody_setting(settings: Settings) -> str:
    if settings.custody_backend == "pkcs11":
        return "QIANSHU_PKCS11_MODULE / QIANSHU_PKCS11_TOKEN_LABEL / QIANSHU_PKCS11_PIN"
    return "QIANSHU_DATA_DIR"


_PREFLIGHT: tuple[tuple[str, str, Callable[[Runtime], None], Callable[[Settings], str]], ...] = (
    ("数据库", "database", _preflight_database, lambda s: "QIANSHU_DATABASE_URL"),
    ("对象存储", "object store", _preflight_storage, _storage_setting),
    ("消息队列/Redis", "broker/Redis", _preflight_broker, _redis_setting),
    ("密钥托管", "key custody", _preflight_custody, _custody_setting),
)


def preflight(runtime: Runtime) -> None:
    """Reach every configured dependency before start-up; raise DependencyUnreachable naming the setting.

    Run by `qianshu serve` and `qianshu worker` before migrating, so a misconfiguration is one clear
    line on the console (the CLI prints it and exits 1), never a stack trace from deep inside a hook.
    """
    for name_zh, name_en, check, setting in _PREFLIGHT:
        try:
            check(runtime)
        except Exception as exc:  # any failure to reach it: report it by the setting to fix
            names = setting(runtime.settings)
            reason = _reason(exc)
            log.error("preflight_failed", dependency=name_en, error_type=type(exc).__name__)
            raise DependencyUnreachable(
                f"无法连接{name_zh}，请检查 {names}（{reason}）",
                detail_en=f"Cannot reach the {name_en}: check {names} ({reason})",
            ) from None


# --- typed JSON rows ------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return {"$t": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$n": str(value)}
    if isinstance(value, dict | list):
        return {"$j": value}
    raise TypeError(f"cannot back up a {type(value).__name__} value")


def _decode(value: Any, *, aware: bool) -> Any:
    if not isinstance(value, dict):
        return value
    ((tag, inner),) = value.items()
    if tag == "$b":
        return base64.b64decode(inner)
    if tag == "$t":
        moment = datetime.fromisoformat(inner)
        return moment.replace(tzinfo=UTC) if aware else moment
    if tag == "$d":
        return date.fromisoformat(inner)
    if tag == "$n":
        return Decimal(inner)
    if tag == "$j":
        return inner
    raise BadBackupFile(f"unknown value tag {tag}")


# --- backup ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupResult:
    """What a backup holds."""

    path: Path
    revision: str | None
    tables: int
    rows: int
    blobs: int
    size: int


def _export_tables(conn: Connection, folder: Path) -> dict[str, int]:
    meta = MetaData()
    meta.reflect(bind=conn)
    counts: dict[str, int] = {}
    for table in meta.sorted_tables:
        if table.name in _SKIP_TABLES:
            continue
        columns = [c.name for c in table.columns]
        n = 0
        with open(folder / f"{table.name}.jsonl", "w", encoding="utf-8") as fh:
            fh.write(json.dumps({"columns": columns}) + "\n")
            order = list(table.primary_key.columns) or list(table.columns)
            for row in conn.execute(select(table).order_by(*order)).yield_per(1000):
                fh.write(json.dumps([_encode(v) for v in row], ensure_ascii=False) + "\n")
                n += 1
        counts[table.name] = n
    return counts


def _snapshot(runtime: Runtime, folder: Path) -> dict[str, int]:
    """Write one consistent snapshot of every table to `folder` (see the module docstring)."""
    engine = runtime.engine
    if engine.dialect.name == "sqlite":
        copy = folder / "snapshot.sqlite"
        raw = engine.raw_connection()
        try:
            target = sqlite3.connect(copy)
            try:
                raw.driver_connection.backup(target)  # type: ignore[union-attr]  # sqlite3 connection
            finally:
                target.close()
        finally:
            raw.close()
        snap = db.make_engine(f"sqlite:///{copy}")
        try:
            with snap.connect() as conn:
                counts = _export_tables(conn, folder)
        finally:
            snap.dispose()
        copy.unlink()
        return counts
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET TRANSACTION READ ONLY"))
        return _export_tables(conn, folder)


class _ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks (a blob-store object stream)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            piece = next(self._chunks, None)
            if piece is None:
                return 0
            self._pending = piece
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o600
    tar.addfile(info, io.BytesIO(data))


def create_backup(*, runtime: Runtime, out: Path, passphrase: str) -> BackupResult:
    """Write an encrypted backup of the database and blobs to `out` (atomically); no key material."""
    from qianshu.storage.providers import blob_store_for

    if not passphrase:
        raise InvalidInput("备份口令不能为空", detail_en="The backup passphrase must not be empty")
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    store = blob_store_for(runtime)
    with tempfile.TemporaryDirectory(prefix="qs-backup-", dir=out.parent) as tmp:
        folder = Path(tmp)
        counts = _snapshot(runtime, folder)
        revision = db.current_revision(runtime.engine)
        manifest = {
            "format": BACKUP_FORMAT,
            "created_at": runtime.clock.now().isoformat(),
            "dialect": runtime.engine.dialect.name,
            "revision": revision,
            "tables": sorted(counts),
            "blob_backend": store.backend,
            "custody_backend": runtime.settings.custody_backend,
            "secrets": "excluded",
        }
        blobs = 0
        try:
            with open(partial, "wb") as fh:
                os.chmod(partial, 0o600)
                writer = SealedWriter(fh, passphrase)
                with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    _add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
                    for name in sorted(counts):
                        tar.add(folder / f"{name}.jsonl", arcname=f"db/{name}.jsonl", recursive=False)
                    for stat in store.iter_objects():
                        with store.open(stat.key) as chunks:
                            info = tarfile.TarInfo(f"blobs/{stat.key}")
                            info.size, info.mode = stat.size, 0o600
                            tar.addfile(info, _ChunkReader(chunks))
                        blobs += 1
                    end = {"rows": counts, "blobs": blobs}
                    _add_bytes(tar, "end.json", json.dumps(end).encode())
                writer.close()
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(partial, out)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
            raise
    result = BackupResult(
        path=out,
        revision=revision,
        tables=len(counts),
        rows=sum(counts.values()),
        blobs=blobs,
        size=out.stat().st_size,
    )
    log.info("backup_written", tables=result.tables, rows=result.rows, blobs=blobs, size=result.size)
    return result


# --- restore --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestoreResult:
    """What a restore put back."""

    revision: str | None
    rows: int
    blobs: int
    shreds_reapplied: int
    source_dialect: str
    secrets_restored: int = 0  # format 1 only: secret files put back from the backup


def _safe_member(name: str) -> str:
    path = Path(name)
    if path.is_absolute() or ".." in path.parts or not name:
        raise BadBackupFile(f"unsafe path in backup: {name}")
    return name


def _stage(source: BinaryIO, passphrase: str, folder: Path) -> dict[str, Any]:
    """Decrypt and authenticate the whole backup into `folder`; return the manifest and end record."""
    reader = io.BufferedReader(SealedReader(source, passphrase), buffer_size=1024 * 1024)
    seen_end = False
    with tarfile.open(fileobj=reader, mode="r|") as tar:
        for member in tar:
            name = _safe_member(member.name)
            if not member.isfile():
                raise BadBackupFile(f"unexpected entry in backup: {name}")
            target = folder / name  # format 1's secrets/… land in staging; see _restore_format1_secrets
            target.parent.mkdir(parents=True, exist_ok=True)
            extracted = tar.extractfile(member)
            assert extracted is not None
            with open(target, "wb") as fh:
                shutil.copyfileobj(extracted, fh, 1024 * 1024)
            seen_end = name == "end.json"
    if not seen_end or not (folder / "manifest.json").is_file():
        raise BadBackupFile("backup is incomplete")
    manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["end"] = json.loads((folder / "end.json").read_text(encoding="utf-8"))
    if manifest.get("format") not in _READABLE_FORMATS:
        raise BadBackupFile(f"unsupported backup format {manifest.get('format')}")
    return manifest


def _reflect(engine: Engine) -> MetaData:
    meta = MetaData()
    meta.reflect(bind=engine)
    return meta


def _ensure_empty(engine: Engine) -> None:
    meta = _reflect(engine)
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            if table.name in _SKIP_TABLES:
                continue
            if conn.scalar(select(func.count()).select_from(table)):
                raise RestoreTargetNotEmpty(
                    "目标数据库已有数据；请恢复到空数据库",
                    detail_en=f"The target database is not empty (table {table.name}); use an empty one",
                )


def _import_tables(
    engine: Engine, folder: Path, tables: list[str], *, secrets_dir: Path, now: datetime
) -> tuple[int, int]:
    """Import every table and re-apply the shred list, all in one transaction; return (rows, shreds)."""
    meta = _reflect(engine)
    aware = engine.dialect.name != "sqlite"
    known = {t.name: t for t in meta.sorted_tables}
    missing = [name for name in tables if name not in known]
    if missing:
        raise BadBackupFile(f"backup has tables the schema lacks: {', '.join(missing)}")
    rows = 0
    with engine.begin() as conn:
        for table in meta.sorted_tables:
            if table.name not in tables:
                continue
            rows += _import_table(conn, table, folder / "db" / f"{table.name}.jsonl", aware=aware)
        if engine.dialect.name == "postgresql":
            _reset_sequences(conn, meta)
        shreds = _apply_shreds(conn, meta, secrets_dir, now)
    return rows, shreds


def _import_table(conn: Connection, table: Table, path: Path, *, aware: bool) -> int:
    with open(path, encoding="utf-8") as fh:
        header = json.loads(fh.readline())
        columns: list[str] = header["columns"]
        unknown = [c for c in columns if c not in table.columns]
        if unknown:
            raise BadBackupFile(f"table {table.name} lacks columns {', '.join(unknown)}")
        datetimes = {c for c in columns if isinstance(table.columns[c].type, DateTime)}
        batch: list[dict[str, Any]] = []
        n = 0
        for line in fh:
            values = json.loads(line)
            batch.append(
                {c: _decode(v, aware=aware or c not in datetimes) for c, v in zip(columns, values, strict=True)}
            )
            if len(batch) >= _BATCH:
                conn.execute(table.insert(), batch)
                n, batch = n + len(batch), []
        if batch:
            conn.execute(table.insert(), batch)
            n += len(batch)
    return n


def _reset_sequences(conn: Connection, meta: MetaData) -> None:
    for table in meta.sorted_tables:
        for col in table.primary_key.columns:
            seq = conn.scalar(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": f'"{table.name}"', "c": col.name})
            if seq:
                top = conn.scalar(select(func.max(col)))
                conn.execute(
                    text("SELECT setval(:s, :v, :called)"),
                    {"s": seq, "v": top or 1, "called": top is not None},
                )


def _needed_keys(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """Name the secret files the backup's rows depend on (relative to the secrets directory)."""
    needed = {"vault/blind-index.key"}
    path = folder / "db" / "vault_data_key.jsonl"
    if path.is_file():
        with open(path, encoding="utf-8") as fh:
            columns: list[str] = json.loads(fh.readline())["columns"]
            at_status, at_kek = columns.index("status"), columns.index("kek_id")
            for line in fh:
                row = json.loads(line)
                kid = row[at_kek]
                if row[at_status] == "active" and isinstance(kid, str) and kid.startswith("kek_"):
                    needed.add(f"vault/kek/{kid}.key")
    if manifest.get("custody_backend", "file") == "file":
        needed.add("custody.key")
    return sorted(needed)


def _check_keys(folder: Path, manifest: dict[str, Any], secrets_dir: Path) -> None:
    """Refuse, before anything is written, a backup whose keys are neither in place nor carried along.

    A format-1 backup carries the secret files of its deployment; those count as in place, unless
    the directory holds a different file under the same name (another deployment's key).
    """
    carried = set(_format1_secret_files(folder, manifest))
    needed = _needed_keys(folder, manifest)
    clashes = [
        name
        for name in needed
        if name in carried
        and (secrets_dir / name).is_file()
        and (secrets_dir / name).read_bytes() != (folder / "secrets" / name).read_bytes()
    ]
    if clashes:
        raise RestoreKeysMissing(
            "密钥目录中的密钥与备份中的不同：这不是备份所属部署的密钥目录",
            detail_en=f"The secrets directory holds different keys than the backup ({', '.join(clashes[:5])}): "
            "it belongs to another deployment",
        )
    missing = [name for name in needed if name not in carried and not (secrets_dir / name).is_file()]
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        raise RestoreKeysMissing(
            "请先把备份所属部署的密钥目录放回原处，再恢复备份",
            detail_en=f"Put the deployment's secrets directory ({secrets_dir}) back before restoring; missing: {shown}",
        )


def _format1_secret_files(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """Name the secret files a format-1 backup carries (none for later formats, which hold no keys)."""
    staged = folder / "secrets"
    if manifest.get("format") != 1 or not staged.is_dir():
        return []
    return sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file())


def _restore_format1_secrets(folder: Path, manifest: dict[str, Any], secrets_dir: Path) -> int:
    """Put back the secret files a format-1 backup carries and the secrets directory lacks; return how many.

    Files already in place are kept (the directory is the deployment's own; `_check_keys` has
    refused a directory whose keys differ). The retention key folder comes back only as a whole,
    and only when the directory has no retention key: a private key an older version kept there is
    then flagged at start-up until it is handed over (`qianshu privacy retention-key hand-over`).
    """
    staged = folder / "secrets"
    files = [Path(name) for name in _format1_secret_files(folder, manifest)]
    if not files:
        return 0
    retention = Path("vault") / "retention"
    retention_in_place = (secrets_dir / retention / "KID").is_file()
    written = 0
    for rel in files:
        if (retention_in_place and rel.is_relative_to(retention)) or (secrets_dir / rel).exists():
            continue
        target = secrets_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write((staged / rel).read_bytes())
            fh.flush()
            os.fsync(fh.fileno())
        written += 1
    log.warning("restore_format1_secrets", restored=written, kept=len(files) - written)
    return written


def _apply_shreds(conn: Connection, meta: MetaData, secrets_dir: Path, now: datetime) -> int:
    """Destroy again, in the import's own transaction, every data key on the shred list; return how many.

    Done inside the import so no restored database ever holds a shredded subject's key: either the
    import commits with the shreds applied, or nothing is imported. The update is the one
    `vault.service.destroy_data_key` makes (status, wrapped key and KEK emptied); the list itself
    stays as it is.
    """
    from qianshu.core import shredlist
    from qianshu.vault import service as vault_service

    listed = shredlist.entries(secrets_dir)
    keys = meta.tables.get("vault_data_key")
    if not listed or keys is None:
        return 0
    if conn.dialect.name == "sqlite":
        now = now.astimezone(UTC).replace(tzinfo=None)
    reapplied = 0
    for subject_id in {e.subject_id: None for e in listed}:
        done = conn.execute(
            keys.update()
            .where(keys.c.subject_id == subject_id, keys.c.status != "destroyed")
            .values(status="destroyed", kek_id=None, wrapped_key=None, destroyed_at=now)
        ).rowcount
        if not done and not subject_id.startswith(vault_service.RETENTION_PREFIX):
            present = conn.scalar(select(func.count()).select_from(keys).where(keys.c.subject_id == subject_id))
            if not present:  # shredded before ever being backed up: a tombstone, as destroy_data_key leaves
                conn.execute(
                    keys.insert().values(
                        id=new_id("dk"), subject_id=subject_id, status="destroyed", created_at=now, destroyed_at=now
                    )
                )
                done = 1
        reapplied += done
    if reapplied:
        log.warning("restore_shreds_reapplied", count=reapplied)
    return reapplied


def restore_backup(*, runtime: Runtime, source: Path, passphrase: str) -> RestoreResult:
    """Restore a backup into the runtime's empty database and blob store.

    The deployment's secrets directory must already be in place (a backup holds no keys); call
    this on a runtime whose startup hooks have not run (they would create fresh keys). The database
    is migrated to the backup's revision, filled in one transaction that also re-applies the shred
    list (subjects shredded since the backup stay shredded, even if a later step fails), then
    migrated on.
    """
    from qianshu.storage.providers import blob_store_for

    if not source.is_file():
        raise InvalidInput("找不到备份文件", detail_en="The backup file does not exist")
    staging_root = runtime.settings.data_dir
    staging_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="qs-restore-", dir=staging_root) as tmp:
        folder = Path(tmp)
        try:
            with open(source, "rb") as fh:
                manifest = _stage(fh, passphrase, folder)
        except (BadBackupFile, tarfile.TarError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BackupInvalid(
                "备份文件已损坏、不完整或口令错误", detail_en=f"The backup cannot be read: {exc}"
            ) from None
        engine = runtime.engine
        revision = manifest.get("revision")
        current = db.current_revision(engine)
        if current is not None and current != revision:
            raise RestoreTargetNotEmpty(
                "目标数据库的结构版本与备份不同；请恢复到全新的空数据库",
                detail_en=f"The target database is at revision {current}, the backup at {revision}; "
                "restore into a new, empty database",
            )
        # Every refusal comes before the first write: the target stays as it was, unmigrated.
        _ensure_empty(engine)
        _check_keys(folder, manifest, runtime.settings.secrets_dir)
        if current is None and revision:
            db.upgrade(engine, revision)
        secrets = _restore_format1_secrets(folder, manifest, runtime.settings.secrets_dir)
        try:
            rows, shreds = _import_tables(
                engine,
                folder,
                list(manifest["tables"]),
                secrets_dir=runtime.settings.secrets_dir,
                now=runtime.clock.now(),
            )
        except BadBackupFile as exc:
            raise BackupInvalid("备份与当前版本不兼容", detail_en=str(exc)) from None
        expected_rows = sum(int(v) for v in manifest["end"]["rows"].values())
        if rows != expected_rows:
            raise BackupInvalid("备份行数不符", detail_en=f"Restored {rows} rows, the backup lists {expected_rows}")
        store = blob_store_for(runtime)
        blobs = 0
        blob_dir = folder / "blobs"
        if blob_dir.is_dir():
            for path in sorted(blob_dir.iterdir()):
                with open(path, "rb") as fh:
                    store.put(path.name, fh)
                blobs += 1
        runtime.migrate()
    log.info("backup_restored", rows=rows, blobs=blobs, shreds_reapplied=shreds, secrets=secrets, revision=revision)
    return RestoreResult(
        revision=revision,
        rows=rows,
        blobs=blobs,
        shreds_reapplied=shreds,
        source_dialect=str(manifest.get("dialect")),
        secrets_restored=secrets,
    )


# --- verification ---------------------------------------------------------------------------


@dataclass
class VerifyResult:
    """Audit chains and blob readability after a restore (or at any time)."""

    streams: int = 0
    events: int = 0
    chain_breaks: list[str] = field(default_factory=list)
    blobs_ok: int = 0
    blobs_shredded: int = 0
    blobs_orphaned: int = 0
    blob_failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Tell whether every chain verified and every live blob read back intact."""
        return not self.chain_breaks and not self.blob_failures


def verify_installation(*, runtime: Runtime) -> VerifyResult:
    """Recompute every audit chain and read every stored blob end to end (hashes checked)."""
    from qianshu.evidence import service as evidence_service
    from qianshu.storage import service as storage_service
    from qianshu.storage.providers import blob_store_for
    from qianshu.vault import service as vault_service

    result = VerifyResult()
    with runtime.transaction() as session:
        report = evidence_service.verify_chains(session=session)
    result.streams, result.events = report.streams, report.events
    result.chain_breaks = [b.describe() for b in report.breaks]
    for stat in blob_store_for(runtime).iter_objects():
        with runtime.transaction() as session:
            try:
                data = storage_service.read_blob_bytes(session=session, blob_id=stat.key)
            except storage_service.BlobNotFound:
                result.blobs_orphaned += 1
                continue
            except vault_service.DataShredded:
                result.blobs_shredded += 1
                continue
            except Exception as exc:  # every other failure is reported per blob
                result.blob_failures.append(f"{stat.key}: {type(exc).__name__}")
                continue
        result.blobs_ok += 1 if data is not None else 0
    return result
