"""The bulk append path of the transparency log: many entries, one transaction, one job."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qianshu.config import Settings
from qianshu.core.clock import FrozenClock
from qianshu.core.runtime import Runtime
from qianshu.evidence import checkpoint, merkle, translog
from qianshu.evidence.log_entry import LogEntryInvalid, canonical_entry
from qianshu.evidence.merkle import MemoryTree
from qianshu.evidence.models import TlogEntry
from qianshu.jobs.models import Job
from tests.evidence.tlog_support import MemoryKeyCustody, entry


@pytest.fixture
def log_runtime(settings: Settings, clock: FrozenClock) -> Iterator[Runtime]:
    from qianshu import bootstrap

    rt = Runtime(settings, clock=clock)
    rt.set_component(translog.CUSTODY_COMPONENT, MemoryKeyCustody())
    bootstrap.prepare(rt)
    yield rt
    rt.close()


def _jobs(rt: Runtime) -> int:
    with rt.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(Job).where(Job.kind == translog.SEQUENCE_JOB)) or 0)


def test_a_batch_is_pending_with_one_job_then_sequenced_in_order(log_runtime: Runtime) -> None:
    rt = log_runtime
    jobs_before = _jobs(rt)
    with rt.transaction() as s:
        single = translog.append_entry(session=s, clock=rt.clock, entry=entry(0))
        leaves = translog.append_entries(session=s, clock=rt.clock, entries=[entry(i) for i in range(1, 6)])
    assert [leaf.index for leaf in leaves] == [None] * 5
    assert _jobs(rt) == jobs_before + 2  # one for the single entry, one for the whole batch
    body = canonical_entry(entry(3), now=rt.clock.now())
    assert leaves[2].leaf_hash == merkle.leaf_hash(body).hex()

    batch = translog.sequence_pending(rt)
    assert batch.sequenced == 6 and batch.tree_size == 6
    with rt.transaction() as s:
        indices = [translog.get_leaf(session=s, entry_id=leaf.entry_id) for leaf in [single, *leaves]]
        assert [leaf.index if leaf else None for leaf in indices] == [0, 1, 2, 3, 4, 5]
        tree = MemoryTree()
        for i in range(6):
            stored = translog.get_entry(session=s, index=i)
            assert stored is not None
            tree.append(merkle.leaf_hash(stored))
        note = translog.latest_checkpoint(session=s)
    signed = checkpoint.parse_checkpoint(checkpoint.split_note(note)[0])
    assert signed.size == 6 and signed.root_hash == tree.root()


def _pending(s: Session) -> int:
    return int(s.scalar(select(func.count()).select_from(TlogEntry)) or 0)


def test_one_bad_entry_refuses_the_whole_batch_before_writing_anything(log_runtime: Runtime) -> None:
    """Every entry is checked before the INSERT: the refusal leaves no row even inside the open transaction."""
    rt = log_runtime
    translog.append_and_sequence(runtime=rt, entry=entry(0))  # a log that already holds something
    jobs_before = _jobs(rt)
    with rt.transaction() as s:
        before, seq_before = _pending(s), s.scalar(select(func.max(TlogEntry.seq)))
        with pytest.raises(LogEntryInvalid) as caught:
            translog.append_entries(
                session=s,
                clock=rt.clock,
                entries=[entry(1), entry(2), {"type": "preservation", "phone": "13800138000"}, entry(3)],
            )
        assert caught.value.status == 422 and "$.phone" in (caught.value.detail_en or "")
        # Not rolled back: never written. The same, still-open transaction sees no new row or job.
        assert _pending(s) == before and s.scalar(select(func.max(TlogEntry.seq))) == seq_before
        assert int(s.scalar(select(func.count()).select_from(Job).where(Job.kind == translog.SEQUENCE_JOB)) or 0) == (
            jobs_before
        )
        after_refusal = translog.append_entries(session=s, clock=rt.clock, entries=[entry(4)])  # still usable
    assert _jobs(rt) == jobs_before + 1
    batch = translog.sequence_pending(rt)
    assert batch.sequenced == 1 and batch.tree_size == 2
    with rt.transaction() as s:
        assert _pending(s) == 2
        found = translog.get_leaf(session=s, entry_id=after_refusal[0].entry_id)
        assert found is not None and found.index == 1
