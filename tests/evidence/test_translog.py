"""The transparency log service: sequencing, checkpoints, proofs, tiles, election and durability."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from qianshu.config import Settings
from qianshu.core.clock import FrozenClock
from qianshu.core.errors import InvalidInput, NotFound, ServiceUnavailable
from qianshu.core.runtime import Runtime
from qianshu.evidence import checkpoint, merkle, tiles, translog
from qianshu.evidence.log_entry import LogEntryInvalid
from qianshu.evidence.merkle import MemoryTree
from qianshu.pki.custody import KeyCustody
from tests.evidence.tlog_support import MemoryKeyCustody, append, entry


@pytest.fixture
def custody() -> MemoryKeyCustody:
    return MemoryKeyCustody()


@pytest.fixture
def log_runtime(settings: Settings, clock: FrozenClock, custody: MemoryKeyCustody) -> Iterator[Runtime]:
    """A migrated runtime whose log key lives in the in-memory custody from the first start."""
    from qianshu import bootstrap

    rt = Runtime(settings, clock=clock)
    rt.set_component(translog.CUSTODY_COMPONENT, custody)
    bootstrap.prepare(rt)
    yield rt
    rt.close()


@pytest.fixture
def other_runtime(settings: Settings, clock: FrozenClock, custody: MemoryKeyCustody) -> Iterator[Runtime]:
    """A second app process on the same database (and the same custody backend)."""
    rt = Runtime(settings, clock=clock)
    rt.set_component(translog.CUSTODY_COMPONENT, custody)
    yield rt
    rt.close()


def _independent_tree(rt: Runtime) -> MemoryTree:
    """Recompute the tree from the stored entry bodies alone."""
    tree = MemoryTree()
    with rt.transaction() as s:
        index = 0
        while (body := translog.get_entry(session=s, index=index)) is not None:
            tree.append(merkle.leaf_hash(body))
            index += 1
    return tree


def _verified(rt: Runtime, note: str) -> checkpoint.Checkpoint:
    return checkpoint.verify_checkpoint(note, translog.verifier_key(rt), origin=rt.settings.log_origin)


def test_the_test_custody_satisfies_the_protocol(custody: MemoryKeyCustody) -> None:
    assert isinstance(custody, KeyCustody)


def test_a_fresh_log_publishes_a_signed_empty_checkpoint(log_runtime: Runtime) -> None:
    batch = translog.sequence_pending(log_runtime)
    assert batch == translog.BatchRead(sequenced=0, tree_size=0)
    with log_runtime.transaction() as s:
        cp = _verified(log_runtime, translog.latest_checkpoint(session=s))
    assert (cp.origin, cp.size, cp.root_hash) == ("qianshu.local/log", 0, merkle.empty_root())
    assert translog.verifier_key(log_runtime).startswith("qianshu.local/log+")


def test_an_entry_is_pending_until_the_sequencer_gives_it_an_index(log_runtime: Runtime) -> None:
    [leaf] = append(log_runtime, 1)
    assert leaf.index is None
    assert leaf.entry_type == "preservation"
    with log_runtime.transaction() as s:
        assert _verified(log_runtime, translog.latest_checkpoint(session=s)).size == 0  # not in the tree yet
    batch = translog.sequence_pending(log_runtime)
    assert batch == translog.BatchRead(sequenced=1, tree_size=1)
    with log_runtime.transaction() as s:
        done = translog.get_leaf(session=s, entry_id=leaf.entry_id)
        note = translog.latest_checkpoint(session=s)
    assert done is not None and done.index == 0 and done.leaf_hash == leaf.leaf_hash
    assert _verified(log_runtime, note).root_hash.hex() == leaf.leaf_hash  # a one-leaf tree's root


def test_append_and_sequence_returns_the_index_at_once(log_runtime: Runtime) -> None:
    first = translog.append_and_sequence(runtime=log_runtime, entry=entry(1))
    second = translog.append_and_sequence(runtime=log_runtime, entry=entry(2))
    assert (first.index, second.index) == (0, 1)
    with log_runtime.transaction() as s:
        assert translog.tree_size(session=s) == 2


def test_entries_are_stored_as_canonical_json_with_a_time(log_runtime: Runtime) -> None:
    leaf = translog.append_and_sequence(
        runtime=log_runtime,
        entry={
            "type": "contract.completed",
            "contract": "ctr_0123456789abcdefghjk",
            "chain_head": "ab" * 32,
            "signers": 2,
        },
    )
    with log_runtime.transaction() as s:
        body = translog.get_entry(session=s, index=0)
    assert body == (
        b'{"chain_head":"' + b"ab" * 32 + b'","contract":"ctr_0123456789abcdefghjk","signers":2,'
        b'"time":"2026-01-05T02:00:00.000Z","type":"contract.completed"}'
    )
    assert leaf.leaf_hash == merkle.leaf_hash(body).hex()


def test_a_refused_entry_leaves_nothing_behind(log_runtime: Runtime) -> None:
    with log_runtime.transaction() as s, pytest.raises(LogEntryInvalid):
        translog.append_entry(session=s, clock=log_runtime.clock, entry={"type": "preservation", "x": 0.5})
    assert _pending_count(log_runtime) == 0


def test_batches_checkpoints_and_root_match_an_independent_recomputation(log_runtime: Runtime) -> None:
    log_runtime.settings.log_batch_max = 250
    append(log_runtime, 600)
    batch = translog.sequence_pending(log_runtime)
    assert (batch.sequenced, batch.tree_size) == (600, 600)
    with log_runtime.transaction() as s:
        from qianshu.evidence.models import TlogCheckpoint

        sizes = list(s.scalars(select(TlogCheckpoint.tree_size).order_by(TlogCheckpoint.tree_size)))
        note = translog.latest_checkpoint(session=s)
    assert sizes == [0, 250, 500, 600]  # the empty log from the first start, then one per batch
    tree = _independent_tree(log_runtime)
    assert tree.size == 600
    assert _verified(log_runtime, note).root_hash == tree.root()


def test_proofs_verify_for_every_size_and_match_the_recomputed_tree(log_runtime: Runtime) -> None:
    top = 34
    roots: dict[int, bytes] = {}
    for _ in range(top):  # one entry per batch: a signed checkpoint at every size
        append(log_runtime, 1, start=len(roots))
        translog.sequence_pending(log_runtime)
        with log_runtime.transaction() as s:
            cp = _verified(log_runtime, translog.latest_checkpoint(session=s))
        roots[cp.size] = cp.root_hash
    tree = _independent_tree(log_runtime)
    with log_runtime.transaction() as s:
        for size in range(1, top + 1):
            assert roots[size] == tree.root(size)
            for index in range(size):
                proof = translog.inclusion_proof(session=s, index=index, tree_size=size)
                path = [bytes.fromhex(x) for x in proof.hashes]
                assert path == merkle.inclusion_proof(index, size, tree.read)
                merkle.verify_inclusion(index, size, bytes.fromhex(proof.leaf_hash), path, roots[size])
                assert proof.checkpoint is not None and _verified(log_runtime, proof.checkpoint).size == size
            for first in range(1, size + 1):
                cons = translog.consistency_proof(session=s, first=first, second=size)
                path = [bytes.fromhex(x) for x in cons.hashes]
                assert path == merkle.consistency_proof(first, size, tree.read)
                merkle.verify_consistency(first, size, path, roots[first], roots[size])


def test_inclusion_by_leaf_hash_and_the_unhappy_paths(log_runtime: Runtime) -> None:
    leaves = append(log_runtime, 5)
    translog.sequence_pending(log_runtime)
    [pending] = append(log_runtime, 1, start=99)
    with log_runtime.transaction() as s:
        proof = translog.inclusion_proof(session=s, leaf_hash=bytes.fromhex(leaves[3].leaf_hash))
        assert (proof.index, proof.tree_size) == (3, 5)
        merkle.verify_inclusion(
            3,
            5,
            bytes.fromhex(proof.leaf_hash),
            [bytes.fromhex(x) for x in proof.hashes],
            bytes.fromhex(proof.root_hash),
        )
        with pytest.raises(translog.LogEntryNotFound):  # not sequenced yet
            translog.inclusion_proof(session=s, leaf_hash=bytes.fromhex(pending.leaf_hash))
        with pytest.raises(translog.LogEntryNotFound):  # not in the smaller tree
            translog.inclusion_proof(session=s, leaf_hash=bytes.fromhex(leaves[4].leaf_hash), tree_size=4)
        with pytest.raises(translog.LogEntryNotFound):
            translog.inclusion_proof(session=s, index=5)
        with pytest.raises(InvalidInput):
            translog.inclusion_proof(session=s, index=0, tree_size=6)
        with pytest.raises(InvalidInput):
            translog.inclusion_proof(session=s)
        with pytest.raises(InvalidInput):
            translog.consistency_proof(session=s, first=4, second=3)
        with pytest.raises(InvalidInput):
            translog.consistency_proof(session=s, first=0)


def test_tiles_and_entry_bundles_match_the_tree(log_runtime: Runtime) -> None:
    append(log_runtime, 300)
    translog.sequence_pending(log_runtime)
    append(log_runtime, 270, start=300)
    translog.sequence_pending(log_runtime)
    tree = _independent_tree(log_runtime)
    with log_runtime.transaction() as s:
        for size in (300, 570):  # the older checkpoint's partial tiles stay readable
            for ref in tiles.tiles_for_size(size):
                assert translog.read_tile(session=s, ref=ref) == b"".join(tree.read(ref.subtrees()))
                bundle_ref = tiles.TileRef(None, ref.index, ref.width)
                if ref.level == 0:
                    bodies = tiles.decode_entry_bundle(translog.read_tile(session=s, ref=bundle_ref))
                    assert [merkle.leaf_hash(b) for b in bodies] == tree.read(ref.subtrees())
        assert tiles.tiles_for_size(570)[-2:] == [tiles.TileRef(0, 2, 58), tiles.TileRef(1, 0, 2)]
        for beyond in [
            tiles.TileRef(0, 2),
            tiles.TileRef(0, 2, 59),
            tiles.TileRef(1, 0),
            tiles.TileRef(None, 3, 1),
        ]:
            with pytest.raises(NotFound):
                translog.read_tile(session=s, ref=beyond)


# --- election: one sequencer at a time ---------------------------------------------------------


def _pending_count(rt: Runtime) -> int:
    from qianshu.evidence.models import TlogEntry

    with rt.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(TlogEntry).where(TlogEntry.seq.is_(None))) or 0)


def test_only_the_lease_holder_sequences(log_runtime: Runtime, other_runtime: Runtime) -> None:
    append(log_runtime, 3)
    holder = translog.SequencerLease(log_runtime)
    assert holder.acquire()
    assert not translog.SequencerLease(other_runtime).acquire()
    batch = translog.sequence_pending(other_runtime)
    assert batch == translog.BatchRead(sequenced=0, tree_size=0, lease_busy=True)
    assert _pending_count(log_runtime) == 3
    leaf = translog.append_and_sequence(runtime=other_runtime, entry=entry(50))
    assert leaf.index is None  # acknowledged and durable, left to the current sequencer
    assert holder.sequence_batch() == (4, 4, False)
    holder.release()
    append(log_runtime, 1, start=60)
    assert translog.sequence_pending(other_runtime) == translog.BatchRead(sequenced=1, tree_size=5)


def test_a_lapsed_lease_is_taken_over_and_the_old_holder_is_fenced_out(
    log_runtime: Runtime, other_runtime: Runtime, clock: FrozenClock
) -> None:
    append(log_runtime, 2)
    stale = translog.SequencerLease(log_runtime)
    assert stale.acquire()  # ... and then the process stalls
    clock.advance(timedelta(seconds=log_runtime.settings.log_lease_seconds))
    successor = translog.SequencerLease(other_runtime)
    assert successor.acquire()
    assert stale.sequence_batch() is None  # its writes would be refused: it did nothing
    assert _pending_count(log_runtime) == 2
    assert successor.sequence_batch() == (2, 2, False)
    stale.release()  # releasing a lost lease does not free the successor's
    assert not translog.SequencerLease(log_runtime).acquire()
    successor.release()
    assert translog.SequencerLease(log_runtime).acquire()


def test_concurrent_appends_from_two_processes_get_distinct_indices(
    log_runtime: Runtime, other_runtime: Runtime
) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def worker(rt: Runtime, base: int) -> None:
        try:
            start.wait(timeout=30)
            for i in range(4):
                translog.append_and_sequence(runtime=rt, entry=entry(base + i))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, args=(rt, 100 * n))
        for n, rt in enumerate([log_runtime, other_runtime] * 3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    translog.sequence_pending(log_runtime)  # whatever a busy lease left pending
    tree = _independent_tree(log_runtime)
    assert tree.size == 24
    with log_runtime.transaction() as s:
        from qianshu.evidence.models import TlogCheckpoint

        notes = list(s.scalars(select(TlogCheckpoint.note).order_by(TlogCheckpoint.tree_size)))
    checkpoints = [_verified(log_runtime, n) for n in notes]
    assert checkpoints[-1].size == 24 and checkpoints[-1].root_hash == tree.root()
    for cp in checkpoints:  # every published checkpoint is a prefix of the final tree
        assert cp.root_hash == tree.root(cp.size)


# --- durability and the job ----------------------------------------------------------------------


def test_acknowledged_entries_survive_a_new_runtime(
    settings: Settings, clock: FrozenClock, custody: MemoryKeyCustody
) -> None:
    from qianshu import bootstrap

    first = Runtime(settings, clock=clock)
    bootstrap.prepare(first)
    first.set_component(translog.CUSTODY_COMPONENT, custody)
    sequenced = translog.append_and_sequence(runtime=first, entry=entry(1))
    [pending] = append(first, 1, start=2)
    key = translog.verifier_key(first)
    first.close()

    second = Runtime(settings, clock=clock)
    second.set_component(translog.CUSTODY_COMPONENT, custody)
    try:
        assert translog.verifier_key(second) == key
        assert translog.sequence_pending(second).sequenced == 1
        with second.transaction() as s:
            for leaf, index in [(sequenced, 0), (pending, 1)]:
                proof = translog.inclusion_proof(session=s, leaf_hash=bytes.fromhex(leaf.leaf_hash))
                assert proof.index == index
                assert proof.checkpoint is not None
                cp = checkpoint.verify_checkpoint(proof.checkpoint, key)
                merkle.verify_inclusion(
                    index,
                    cp.size,
                    bytes.fromhex(leaf.leaf_hash),
                    [bytes.fromhex(x) for x in proof.hashes],
                    cp.root_hash,
                )
    finally:
        second.close()


def test_the_sequencing_job_finishes_what_append_started(
    log_runtime: Runtime, other_runtime: Runtime, clock: FrozenClock
) -> None:
    from qianshu.evidence import tasks  # noqa: F401  # registers the handlers, as the worker does
    from qianshu.jobs import service as jobs_service

    def log_jobs() -> list[tuple[str, int]]:
        with log_runtime.transaction() as s:
            jobs = jobs_service.list_jobs(session=s)
            return [(j.status, j.attempts) for j in jobs if j.kind == translog.SEQUENCE_JOB]

    [leaf] = append(log_runtime, 1)
    assert log_jobs() == [("queued", 0)]
    blocker = translog.SequencerLease(other_runtime)
    assert blocker.acquire()
    jobs_service.run_pending(log_runtime)  # runs, finds the lease taken, retries later
    assert log_jobs() == [("queued", 1)]
    with log_runtime.transaction() as s:
        assert translog.get_leaf(session=s, entry_id=leaf.entry_id) == leaf
    blocker.release()
    clock.advance(jobs_service.backoff(1))
    jobs_service.run_pending(log_runtime)
    assert log_jobs() == [("done", 2)]
    with log_runtime.transaction() as s:
        done = translog.get_leaf(session=s, entry_id=leaf.entry_id)
    assert done is not None and done.index == 0


def test_the_platform_custody_signs_checkpoints(runtime: Runtime) -> None:
    """With no test custody installed, the pki domain's configured custody (sealed files) is used."""
    leaf = translog.append_and_sequence(runtime=runtime, entry=entry(1))
    assert leaf.index == 0
    with runtime.transaction() as s:
        cp = _verified(runtime, translog.latest_checkpoint(session=s))
    assert (cp.size, cp.root_hash.hex()) == (1, leaf.leaf_hash)


class _BrokenCustody(MemoryKeyCustody):
    def sign_digest(self, label: str, digest: bytes, hash_algorithm: str) -> bytes:
        raise ServiceUnavailable("HSM offline")


def test_a_custody_failure_leaves_nothing_half_written(runtime: Runtime) -> None:
    runtime.set_component(translog.CUSTODY_COMPONENT, _BrokenCustody())
    append(runtime, 3)
    with pytest.raises(ServiceUnavailable):
        translog.sequence_pending(runtime)
    assert _pending_count(runtime) == 3
    with runtime.transaction() as s:
        assert translog.tree_size(session=s) == 0
        from qianshu.evidence.models import TlogTile

        assert s.scalar(select(func.count()).select_from(TlogTile)) == 0
    assert translog.SequencerLease(runtime).acquire()  # the failed attempt released its lease
