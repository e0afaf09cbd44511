"""The public transparency log (PROMISES E2): append, sequence, prove, publish signed checkpoints.

Life of an entry:
1. `append_entry` stores the canonical JSON as a *pending* row and enqueues a sequencing job, both
   in the caller's transaction: once the caller commits, the entry is durable and will be
   sequenced (the job retries until it is), and if the caller rolls back it never existed.
2. One sequencer at a time extends the tree. It is elected through the `tlog_lease` row: a
   conditional UPDATE takes the lease when it is free or lapsed (the same statement on SQLite and
   PostgreSQL), bumping an epoch. Each batch then runs in one transaction that first re-asserts
   the lease (holder, epoch, not lapsed), which also row-locks it (PostgreSQL) or takes the
   database write lock (SQLite), so a sequencer that lost its lease can never write. The batch
   gives pending entries consecutive indices, grows the hash tiles (C2SP tlog-tiles), computes
   the RFC 6962 root and stores a checkpoint signed with the log's Ed25519 key held in custody,
   all committed together: a published checkpoint always matches the stored tree.
3. `append_and_sequence` is the synchronous path: it commits the entry, then sequences at once if
   it can take the lease, returning the index; if another process is sequencing it returns the
   pending leaf (the job finishes it), so no caller ever blocks on another process.
Proofs fold O(log n) perfect-subtree hashes read from a handful of tile rows (`merkle.py`).
"""

from __future__ import annotations

import dataclasses
import importlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key
from sqlalchemy import and_, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qianshu.core.clock import Clock
from qianshu.core.errors import InvalidInput, NotFound, ServiceUnavailable
from qianshu.core.ids import new_id
from qianshu.core.logging import get_logger
from qianshu.core.runtime import Runtime
from qianshu.evidence import checkpoint, merkle, tiles
from qianshu.evidence.log_entry import canonical_entry
from qianshu.evidence.models import TlogCheckpoint, TlogEntry, TlogLease, TlogTile
from qianshu.jobs import service as jobs_service
from qianshu.pki import custody as pki_custody
from qianshu.pki.custody import KeyCustody

log = get_logger("qianshu.evidence.translog")

KEY_LABEL = "evidence-log-ed25519"
SEQUENCE_JOB = "evidence.log.sequence"
CUSTODY_COMPONENT = "evidence.log.custody"  # tests install a KeyCustody here
_LEASE_NAME = "sequencer"


class LogNotReady(NotFound):
    """The log has not published its first checkpoint yet."""

    slug = "log-not-ready"
    title = "透明日志尚未发布检查点"
    title_en = "The log has not published a checkpoint yet"


class LogEntryNotFound(NotFound):
    """No sequenced entry matches, in the tree of the requested size."""

    slug = "log-entry-not-found"
    title = "日志中没有该条目"
    title_en = "No such entry in the log"


@dataclass(frozen=True)
class LeafRead:
    """An entry as the log knows it: `index` is None while it waits for the sequencer."""

    entry_id: str
    index: int | None
    leaf_hash: str  # hex
    entry_type: str


@dataclass(frozen=True)
class BatchRead:
    """What one `sequence_pending` call did; `lease_busy`: another process held the lease, work was left."""

    sequenced: int
    tree_size: int
    lease_busy: bool = False


@dataclass(frozen=True)
class InclusionProofRead:
    """An audit path (RFC 9162 §2.1.3) with the root it leads to and, if published, its checkpoint."""

    index: int
    tree_size: int
    leaf_hash: str
    hashes: list[str]
    root_hash: str
    checkpoint: str | None


@dataclass(frozen=True)
class ConsistencyProofRead:
    """A consistency proof (RFC 9162 §2.1.4) between two tree sizes, with both roots."""

    first: int
    second: int
    hashes: list[str]
    first_root: str
    second_root: str
    checkpoint: str | None


# --- entries ----------------------------------------------------------------------------------


def append_entry(*, session: Session, clock: Clock, entry: Mapping[str, Any]) -> LeafRead:
    """Add an entry as pending, with the job that sequences it, in the caller's transaction."""
    body = canonical_entry(entry, now=clock.now())
    row = TlogEntry(
        entry_id=new_id("tle"),
        leaf_hash=merkle.leaf_hash(body),
        body=body,
        entry_type=str(entry["type"]),
        seq=None,
        created_at=clock.now(),
        sequenced_at=None,
    )
    session.add(row)
    session.flush()
    jobs_service.enqueue(session=session, clock=clock, kind=SEQUENCE_JOB, payload={"entry_id": row.entry_id})
    return _leaf_read(row)


def append_entries(*, session: Session, clock: Clock, entries: Sequence[Mapping[str, Any]]) -> list[LeafRead]:
    """Add many entries as pending in the caller's transaction, with one sequencing job for them all.

    The bulk path of `append_entry` (one multi-row INSERT): the entries are durable together when
    the caller commits and are sequenced in arrival order, by the job or by any earlier batch.
    """
    if not entries:
        return []
    now = clock.now()
    rows: list[dict[str, Any]] = []
    leaves: list[LeafRead] = []
    for entry in entries:
        body = canonical_entry(entry, now=now)
        leaf = LeafRead(entry_id=new_id("tle"), index=None, leaf_hash="", entry_type=str(entry["type"]))
        digest = merkle.leaf_hash(body)
        leaves.append(dataclasses.replace(leaf, leaf_hash=digest.hex()))
        rows.append(
            {
                "entry_id": leaf.entry_id,
                "leaf_hash": digest,
                "body": body,
                "entry_type": leaf.entry_type,
                "seq": None,
                "created_at": now,
                "sequenced_at": None,
            }
        )
    session.execute(insert(TlogEntry), rows)
    jobs_service.enqueue(session=session, clock=clock, kind=SEQUENCE_JOB, payload={"entry_id": leaves[-1].entry_id})
    return leaves


def append_and_sequence(*, runtime: Runtime, entry: Mapping[str, Any]) -> LeafRead:
    """Commit an entry, then sequence it now if this process can take the lease; return its leaf."""
    with runtime.transaction() as session:
        leaf = append_entry(session=session, clock=runtime.clock, entry=entry)
    sequence_pending(runtime)
    with runtime.transaction() as session:
        return get_leaf(session=session, entry_id=leaf.entry_id) or leaf


def get_leaf(*, session: Session, entry_id: str) -> LeafRead | None:
    """Return the entry `entry_id` (its index once sequenced), or None."""
    row = session.scalar(select(TlogEntry).where(TlogEntry.entry_id == entry_id))
    return None if row is None else _leaf_read(row)


def get_entry(*, session: Session, index: int) -> bytes | None:
    """Return the canonical JSON of the entry at `index`, or None."""
    if index < 0:
        return None
    body: bytes | None = session.scalar(select(TlogEntry.body).where(TlogEntry.seq == index))
    return body


def _leaf_read(row: TlogEntry) -> LeafRead:
    return LeafRead(entry_id=row.entry_id, index=row.seq, leaf_hash=row.leaf_hash.hex(), entry_type=row.entry_type)


# --- the tree in tiles ------------------------------------------------------------------------


class _TileStore:
    """Hash tiles read (and, for the sequencer, grown) inside one session."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._tiles: dict[tuple[int, int], bytearray] = {}
        self._dirty: set[tuple[int, int]] = set()

    def load(self, keys: set[tuple[int, int]]) -> None:
        """Fetch the tiles in `keys` not yet loaded, in one query."""
        missing = keys - self._tiles.keys()
        if not missing:
            return
        rows = self._session.execute(
            select(TlogTile.level, TlogTile.tile_index, TlogTile.hashes).where(
                or_(*(and_(TlogTile.level == lv, TlogTile.tile_index == ix) for lv, ix in sorted(missing)))
            )
        )
        for level, index, data in rows:
            self._tiles[(level, index)] = bytearray(data)
        for key in missing:
            self._tiles.setdefault(key, bytearray())

    def read(self, subtrees: Sequence[merkle.Subtree]) -> list[bytes]:
        """Return perfect-subtree hashes (a merkle.HashReader), folding within one tile each."""
        spots = [tiles.tile_for_subtree(height, index) for height, index in subtrees]
        self.load({(level, tile) for level, tile, _, _ in spots})
        return [
            tiles.subtree_hash_from_tile(bytes(self._tiles[(level, tile)]), pos, count)
            for level, tile, pos, count in spots
        ]

    def prepare_append(self, size: int) -> None:
        """Load the right-edge tile of every level of a tree of `size` leaves."""
        keys, level = set(), 0
        while True:
            keys.add((level, (size >> (tiles.TILE_HEIGHT * level)) // tiles.TILE_WIDTH))
            if size >> (tiles.TILE_HEIGHT * (level + 1)) == 0:
                break
            level += 1
        self.load(keys)

    def append(self, level: int, position: int, value: bytes) -> None:
        """Put hash `value` at `position` of `level`; a tile it fills goes up one level (tlog-tiles)."""
        key = (level, position // tiles.TILE_WIDTH)
        tile = self._tiles.get(key)
        if tile is None:
            self.load({key})
            tile = self._tiles[key]
        if len(tile) != (position % tiles.TILE_WIDTH) * merkle.HASH_SIZE:
            raise RuntimeError("stored tiles are out of step with the tree size")
        tile += value
        self._dirty.add(key)
        if position % tiles.TILE_WIDTH == tiles.TILE_WIDTH - 1:
            self.append(level + 1, position // tiles.TILE_WIDTH, merkle.perfect_root(tiles.split_tile(bytes(tile))))

    def flush(self) -> None:
        """Write grown tiles back."""
        for level, index in sorted(self._dirty):
            data = bytes(self._tiles[(level, index)])
            width = len(data) // merkle.HASH_SIZE
            row = self._session.get(TlogTile, (level, index))
            if row is None:
                self._session.add(TlogTile(level=level, tile_index=index, width=width, hashes=data))
            else:
                row.hashes, row.width = data, width
        self._dirty.clear()
        self._session.flush()


def _latest(session: Session) -> TlogCheckpoint | None:
    return session.scalar(select(TlogCheckpoint).order_by(TlogCheckpoint.tree_size.desc()).limit(1))


def _latest_or_raise(session: Session) -> TlogCheckpoint:
    latest = _latest(session)
    if latest is None:
        raise LogNotReady()
    return latest


# --- key and signing ----------------------------------------------------------------------------


def _custody(runtime: Runtime) -> KeyCustody:
    return runtime.component(CUSTODY_COMPONENT, _platform_custody)


def _platform_custody(runtime: Runtime) -> KeyCustody:
    """Return the platform's key custody: `custody_for(runtime)` of the pki domain."""
    custody_for = getattr(_optional_module("qianshu.pki.service"), "custody_for", None) or getattr(
        pki_custody, "custody_for", None
    )
    if custody_for is None:
        raise ServiceUnavailable("密钥托管服务不可用", detail_en="Key custody is not available")
    custody: KeyCustody = custody_for(runtime)
    return custody


def _optional_module(name: str) -> object | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return None


def _origin(runtime: Runtime) -> str:
    origin = runtime.settings.log_origin
    if not checkpoint.is_valid_key_name(origin):
        raise ServiceUnavailable(
            "日志 origin 配置无效（不得含空格或加号）",
            detail_en="QIANSHU_LOG_ORIGIN must have no spaces or '+'",
        )
    return origin


def _public_key(runtime: Runtime, *, create: bool) -> bytes | None:
    """Return the log key's raw Ed25519 public key, generating the key when asked and absent."""
    custody = _custody(runtime)
    ref = custody.get(KEY_LABEL)
    if ref is None and create:
        try:
            ref = custody.generate(KEY_LABEL, "ed25519")
        except Exception:  # lost a generation race: the other key stands
            ref = custody.get(KEY_LABEL)
            if ref is None:
                raise
    if ref is None:
        return None
    key = load_der_public_key(ref.public_key_der)
    if ref.algorithm != "ed25519" or not isinstance(key, Ed25519PublicKey):
        raise ServiceUnavailable("日志密钥不是 Ed25519 密钥", detail_en="The log key is not an Ed25519 key")
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _sign_checkpoint(runtime: Runtime, size: int, root: bytes) -> str:
    """Sign the checkpoint for (size, root) as a C2SP signed note with the custody-held key."""
    origin = _origin(runtime)
    public_key = _public_key(runtime, create=False)  # created before the batch transaction began
    if public_key is None:
        raise ServiceUnavailable("日志密钥不存在", detail_en="The log key is missing from custody")
    custody = _custody(runtime)
    return checkpoint.sign_note(
        checkpoint.format_checkpoint(origin, size, root),
        name=origin,
        public_key=public_key,
        sign=lambda message: custody.sign_digest(KEY_LABEL, message, ""),
    )


def verifier_key(runtime: Runtime) -> str:
    """Return the log's verifier key `<origin>+<key id>+<base64 key>` (signed-note)."""
    public_key = _public_key(runtime, create=False)
    if public_key is None:
        ensure_log(runtime=runtime)
        public_key = _public_key(runtime, create=False)
    if public_key is None:
        raise ServiceUnavailable("日志密钥尚未生成", detail_en="The log key has not been created yet")
    return checkpoint.verifier_key_string(_origin(runtime), public_key)


# --- the sequencer --------------------------------------------------------------------------------


class SequencerLease:
    """This process's claim on the `tlog_lease` row; only its holder may extend the log."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.holder = runtime.component("evidence.log.holder", lambda _rt: new_id("tlh"))
        self.epoch: int | None = None

    def _until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.runtime.settings.log_lease_seconds)

    def acquire(self) -> bool:
        """Take the lease if it is free, lapsed or ours; return whether we hold it now."""
        now = self.runtime.clock.now()
        with self.runtime.transaction() as s:
            taken = s.execute(
                update(TlogLease)
                .where(
                    TlogLease.name == _LEASE_NAME,
                    or_(
                        TlogLease.holder == self.holder,
                        TlogLease.expires_at.is_(None),
                        TlogLease.expires_at <= now,
                    ),
                )
                .values(holder=self.holder, epoch=TlogLease.epoch + 1, expires_at=self._until(now), renewed_at=now)
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]  # CursorResult
                self.epoch = s.scalar(select(TlogLease.epoch).where(TlogLease.name == _LEASE_NAME))
                return True
            exists = s.scalar(select(TlogLease.name).where(TlogLease.name == _LEASE_NAME))
        if exists is not None:
            return False
        try:
            with self.runtime.transaction() as s:
                s.add(
                    TlogLease(
                        name=_LEASE_NAME,
                        holder=self.holder,
                        epoch=1,
                        expires_at=self._until(now),
                        renewed_at=now,
                    )
                )
        except IntegrityError:
            return False  # another process created the row, and holds it, at the same moment
        self.epoch = 1
        return True

    def _fence(self, session: Session) -> bool:
        """Re-assert and renew the lease as the transaction's first write (locks the row)."""
        now = self.runtime.clock.now()
        renewed = session.execute(
            update(TlogLease)
            .where(
                TlogLease.name == _LEASE_NAME,
                TlogLease.holder == self.holder,
                TlogLease.epoch == self.epoch,
                TlogLease.expires_at > now,
            )
            .values(expires_at=self._until(now), renewed_at=now)
        )
        return renewed.rowcount == 1  # type: ignore[attr-defined, no-any-return]  # CursorResult

    def sequence_batch(self) -> tuple[int, int, bool] | None:
        """Sequence up to `log_batch_max` pending entries and sign a checkpoint, in one transaction.

        Return (entries sequenced, tree size, more pending), or None when the lease was lost.
        """
        if self.epoch is None:
            return None
        runtime = self.runtime
        _public_key(runtime, create=True)  # outside the transaction: custody may use the database
        with runtime.transaction() as s:
            if not self._fence(s):
                self.epoch = None
                return None
            now = runtime.clock.now()
            latest = _latest(s)
            size = latest.tree_size if latest is not None else 0
            limit = max(1, runtime.settings.log_batch_max)
            pending = s.execute(
                select(TlogEntry.id, TlogEntry.leaf_hash)
                .where(TlogEntry.seq.is_(None))
                .order_by(TlogEntry.id)  # arrival order
                .limit(limit + 1)
            ).all()
            more, pending = len(pending) > limit, pending[:limit]
            if not pending and latest is not None:
                return 0, size, False
            store = _TileStore(s)
            store.prepare_append(size)
            for offset, (_, leaf) in enumerate(pending):
                store.append(0, size + offset, leaf)
            _assign_indices(s, [pk for pk, _ in pending], size, now)
            store.flush()
            new_size = size + len(pending)
            root = merkle.root_hash(new_size, store.read)
            note = _sign_checkpoint(runtime, new_size, root)
            s.add(TlogCheckpoint(tree_size=new_size, root_hash=root, note=note, created_at=now))
            s.flush()
        log.info("tlog_checkpoint", tree_size=new_size, sequenced=len(pending))
        return len(pending), new_size, more

    def release(self) -> None:
        """Give the lease up so another process may sequence at once."""
        if self.epoch is None:
            return
        now = self.runtime.clock.now()
        with self.runtime.transaction() as s:
            s.execute(
                update(TlogLease)
                .where(
                    TlogLease.name == _LEASE_NAME,
                    TlogLease.holder == self.holder,
                    TlogLease.epoch == self.epoch,
                )
                .values(expires_at=now)
            )
        self.epoch = None


def _assign_indices(session: Session, ids: list[int], first: int, now: datetime) -> None:
    """Give the entries `ids` (arrival order) the indices first, first + 1, … in one statement.

    PostgreSQL: one UPDATE joined to `unnest` of the two arrays; elsewhere one executemany of
    UPDATE by primary key. The ids are explicit, so an entry committed meanwhile is not touched.
    """
    if not ids:
        return
    seqs = list(range(first, first + len(ids)))
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(
                "UPDATE tlog_entry SET seq = v.seq, sequenced_at = :now "
                "FROM unnest(CAST(:ids AS bigint[]), CAST(:seqs AS bigint[])) AS v(id, seq) "
                "WHERE tlog_entry.id = v.id"
            ),
            {"ids": ids, "seqs": seqs, "now": now},
        )
        return
    session.execute(
        update(TlogEntry), [{"id": pk, "seq": n, "sequenced_at": now} for pk, n in zip(ids, seqs, strict=True)]
    )


def sequence_pending(runtime: Runtime) -> BatchRead:
    """Sequence every pending entry if this process wins the lease; publish a checkpoint per batch.

    A fresh log gets its key and its size-0 checkpoint here. While another process holds the
    lease nothing is done and `lease_busy` is set: that process, or a retried job, finishes.
    """
    local = runtime.component("evidence.log.local_lock", lambda _rt: threading.Lock())
    with local:  # one sequencer per runtime; other processes are kept out by the lease
        size, has_pending = _state(runtime)
        if size is not None and not has_pending:
            return BatchRead(sequenced=0, tree_size=size)  # nothing to do: no lease, no write
        lease = SequencerLease(runtime)
        if not lease.acquire():
            return BatchRead(sequenced=0, tree_size=size or 0, lease_busy=True)
        total = 0
        try:
            while True:
                result = lease.sequence_batch()
                if result is None:
                    return BatchRead(sequenced=total, tree_size=_state(runtime)[0] or 0, lease_busy=True)
                count, new_size, more = result
                total += count
                if not more:
                    return BatchRead(sequenced=total, tree_size=new_size)
        finally:
            lease.release()


def ensure_log(*, runtime: Runtime) -> str | None:
    """Create the log key and first checkpoint when absent (fit for bootstrap.STARTUP_HOOKS)."""
    sequence_pending(runtime)
    return None


def _state(runtime: Runtime) -> tuple[int | None, bool]:
    """Return the published tree size (None before the first checkpoint) and whether entries wait."""
    with runtime.transaction() as s:
        latest = _latest(s)
        waiting = s.scalar(select(TlogEntry.id).where(TlogEntry.seq.is_(None)).limit(1)) is not None
        return (None if latest is None else latest.tree_size), waiting


# --- reading the log ------------------------------------------------------------------------------


def latest_checkpoint(*, session: Session) -> str:
    """Return the newest signed checkpoint note; raise LogNotReady before the first one."""
    return _latest_or_raise(session).note


def tree_size(*, session: Session) -> int:
    """Return the size of the newest published tree (0 before the first checkpoint)."""
    latest = _latest(session)
    return 0 if latest is None else latest.tree_size


def _check_size(value: int, latest: int, what: str) -> None:
    if not 1 <= value <= latest:
        raise InvalidInput(f"{what} 必须在 1 到 {latest} 之间", detail_en=f"{what} must be between 1 and {latest}")


def inclusion_proof(
    *,
    session: Session,
    index: int | None = None,
    leaf_hash: bytes | None = None,
    tree_size: int | None = None,
) -> InclusionProofRead:
    """Prove that an entry (by index or leaf hash) is in the tree of `tree_size` (default: newest)."""
    latest = _latest_or_raise(session)
    size = latest.tree_size if tree_size is None else tree_size
    _check_size(size, latest.tree_size, "tree_size")
    if (index is None) == (leaf_hash is None):
        raise InvalidInput("请给出 index 或 leaf_hash 之一", detail_en="Give exactly one of index and leaf_hash")
    if leaf_hash is not None:
        found = session.execute(
            select(TlogEntry.seq, TlogEntry.leaf_hash)
            .where(TlogEntry.leaf_hash == leaf_hash, TlogEntry.seq.is_not(None), TlogEntry.seq < size)
            .order_by(TlogEntry.seq)
            .limit(1)
        ).first()
    elif index is not None and 0 <= index < size:
        found = session.execute(select(TlogEntry.seq, TlogEntry.leaf_hash).where(TlogEntry.seq == index)).first()
    else:
        found = None
    if found is None or found[0] is None:
        raise LogEntryNotFound(
            "该树中没有此条目（可能仍在排队）",
            detail_en="The tree of that size holds no such entry (it may still be pending)",
        )
    seq, leaf = int(found[0]), bytes(found[1])
    store = _TileStore(session)
    *path, root = merkle.hash_ranges([*merkle.inclusion_ranges(seq, size), (0, size)], store.read)
    merkle.verify_inclusion(seq, size, leaf, path, root)  # a corrupt store fails here, not at the client
    return InclusionProofRead(
        index=seq,
        tree_size=size,
        leaf_hash=leaf.hex(),
        hashes=[h.hex() for h in path],
        root_hash=root.hex(),
        checkpoint=_note_for(session, size, latest),
    )


def consistency_proof(*, session: Session, first: int, second: int | None = None) -> ConsistencyProofRead:
    """Prove that the tree of `second` leaves (default: newest) extends the tree of `first`."""
    latest = _latest_or_raise(session)
    size = latest.tree_size if second is None else second
    _check_size(size, latest.tree_size, "second")
    _check_size(first, size, "first")
    store = _TileStore(session)
    *path, first_root, second_root = merkle.hash_ranges(
        [*merkle.consistency_ranges(first, size), (0, first), (0, size)], store.read
    )
    merkle.verify_consistency(first, size, path, first_root, second_root)
    return ConsistencyProofRead(
        first=first,
        second=size,
        hashes=[h.hex() for h in path],
        first_root=first_root.hex(),
        second_root=second_root.hex(),
        checkpoint=_note_for(session, size, latest),
    )


def _note_for(session: Session, size: int, latest: TlogCheckpoint) -> str | None:
    if size == latest.tree_size:
        return latest.note
    row = session.get(TlogCheckpoint, size)
    return None if row is None else row.note


def read_tile(*, session: Session, ref: tiles.TileRef) -> bytes:
    """Return a hash tile or entry bundle covered by the newest checkpoint (C2SP tlog-tiles)."""
    latest = _latest(session)
    size = 0 if latest is None else latest.tree_size
    start, end = ref.leaf_range()  # the leaves the tile's hashes cover
    if end > size:
        raise NotFound("日志中还没有这个瓦片", detail_en="The log has no such tile yet")
    if ref.level is None:
        bodies = list(
            session.scalars(
                select(TlogEntry.body).where(TlogEntry.seq >= start, TlogEntry.seq < end).order_by(TlogEntry.seq)
            )
        )
        if len(bodies) != ref.width:
            raise RuntimeError("sequenced entries are missing from the log")
        return tiles.encode_entry_bundle([bytes(b) for b in bodies])
    row = session.get(TlogTile, (ref.level, ref.index))
    if row is None or row.width < ref.width:
        raise RuntimeError("stored tiles are behind the published checkpoint")
    return bytes(row.hashes[: ref.width * merkle.HASH_SIZE])
