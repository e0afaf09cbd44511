"""Audit-chain heads anchored in the transparency log, on a schedule, and carried in bundles."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from qianshu.core.clock import FrozenClock
from qianshu.core.errors import VerificationFailed
from qianshu.core.ids import new_id
from qianshu.core.runtime import Runtime
from qianshu.evidence import anchors, bundle, preservation, translog
from qianshu.evidence import service as evidence_service
from qianshu.evidence.models import AuditAnchor
from qianshu.evidence.verifier import STEPS, verify_bundle
from qianshu.jobs.models import Job
from qianshu.pki import service as pki_service
from tests.evidence.evidence_support import read_zip, rewrite

STEP = {s.key: str(s) for s in STEPS}


def _record(runtime: Runtime, stream: str, n: int = 1) -> None:
    with runtime.transaction() as session:
        for _ in range(n):
            evidence_service.record_event(
                session=session, clock=runtime.clock, stream=stream, actor="system", action="test.anchor"
            )


def _anchor(runtime: Runtime) -> dict[str, anchors.AnchorRead]:
    with runtime.transaction() as session:
        done = anchors.anchor_heads(session=session, clock=runtime.clock)
    translog.sequence_pending(runtime)
    return {a.stream: a for a in done}


def _logged(runtime: Runtime, anchor: anchors.AnchorRead) -> tuple[bytes, dict[str, object]]:
    with runtime.transaction() as session:
        leaf = translog.get_leaf(session=session, entry_id=anchor.log_entry_id)
        assert leaf is not None and leaf.index is not None
        body = translog.get_entry(session=session, index=leaf.index)
    assert body is not None
    return body, json.loads(body)


def test_each_moved_head_is_anchored_once_under_the_hash_of_its_stream(runtime: Runtime) -> None:
    user, contract = f"user:{new_id('usr')}", f"contract:{new_id('ctr')}"
    _record(runtime, user, 2)
    _record(runtime, contract, 1)
    first = _anchor(runtime)
    assert {user, contract} <= set(first)
    for stream, n in ((user, 2), (contract, 1)):
        body, entry = _logged(runtime, first[stream])
        with runtime.transaction() as session:
            head = evidence_service.chain_head(session=session, stream=stream)
        assert entry == {
            "type": "audit.anchor",
            "stream_hash": hashlib.sha256(stream.encode()).hexdigest(),
            "length": n,
            "audit_head": head,
            "time": entry["time"],
        }
        assert stream.split(":", 1)[1].encode() not in body  # the public log never sees the id
    assert _anchor(runtime) == {}  # nothing moved
    _record(runtime, user, 1)
    second = _anchor(runtime)
    assert set(second) == {user} and second[user].seq == 3
    with runtime.transaction() as session:
        kept = session.scalars(select(AuditAnchor.seq).where(AuditAnchor.stream == user).order_by(AuditAnchor.seq))
        assert list(kept) == [2, 3]
        assert [a.seq for a in anchors.latest_anchors(session=session, stream=user)] == [3, 2]


def test_a_run_anchors_at_most_its_limit_and_the_rest_next_time(runtime: Runtime) -> None:
    streams = [f"org:{new_id('org')}" for _ in range(3)]
    for stream in streams:
        _record(runtime, stream)
    with runtime.transaction() as session:
        anchors.anchor_heads(session=session, clock=runtime.clock)  # what the start-up wrote
    for stream in streams:
        _record(runtime, stream)
    with runtime.transaction() as session:
        assert len(anchors.anchor_heads(session=session, clock=runtime.clock, limit=2)) == 2
        assert len(anchors.anchor_heads(session=session, clock=runtime.clock, limit=2)) == 1
        assert anchors.anchor_heads(session=session, clock=runtime.clock) == []


def test_anchoring_runs_hourly_as_a_scheduled_job(runtime: Runtime, clock: FrozenClock, run_jobs: object) -> None:
    with runtime.transaction() as session:
        queued = session.scalars(select(Job).where(Job.kind == anchors.ANCHOR_JOB, Job.status == "queued")).all()
        assert len(queued) == 1 and queued[0].run_after == anchors.next_anchor_time(clock.now())
    stream = f"user:{new_id('usr')}"
    _record(runtime, stream)
    clock.advance(timedelta(hours=1))
    run_jobs()  # type: ignore[operator]  # the fixture's callable
    with runtime.transaction() as session:
        anchored = anchors.latest_anchors(session=session, stream=stream)
        assert [a.seq for a in anchored] == [1]
        leaf = translog.get_leaf(session=session, entry_id=anchored[0].log_entry_id)
        assert leaf is not None and leaf.index is not None  # the sequencing job ran too
        queued = session.scalars(select(Job).where(Job.kind == anchors.ANCHOR_JOB, Job.status == "queued")).all()
        assert len(queued) == 1 and queued[0].run_after == anchors.next_anchor_time(clock.now())


def test_a_bundle_carries_the_anchor_and_a_chain_cut_short_fails(runtime: Runtime) -> None:
    owner = new_id("usr")
    record = preservation.submit_file(
        runtime=runtime, owner_id=owner, stream=b"anchored" * 100, media_type="text/plain"
    )
    stream = preservation.stream_of(record.id)
    assert _anchor(runtime)[stream].seq == 2  # created, certified
    with runtime.transaction() as session:
        data = bundle.build_bundle(session=session, subject_kind="preservation", subject_id=record.id)
        root = pki_service.pem(pki_service.root_certificate_der(session=session)).encode()
    key = translog.verifier_key(runtime)
    name = f"log/entries/anchor-preservation-{record.id}.json"
    assert json.loads(read_zip(data)[name])["length"] == 2
    report = verify_bundle(data, root=root, log_key=key)
    assert any(line.startswith(f"{name}: index") for line in report.steps[4].details)

    # Hiding the last event leaves a valid chain and the subject's own entry intact: only the
    # anchor shows that the log saw two events.
    path = f"audit/preservation-{record.id}.json"
    audit = json.loads(read_zip(data)[path])
    audit["events"] = audit["events"][:1]
    cut = rewrite(data, path, json.dumps(audit).encode())
    with pytest.raises(VerificationFailed) as caught:
        verify_bundle(cut, root=root, log_key=key)
    assert caught.value.step == STEP["inclusion"]
    assert f"anchored {stream} at length 2, the bundle has 1 events (events removed)" in caught.value.reason
