"""Jobs of the transparency log: sequence pending entries (registered via `evidence/tasks.py`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from qianshu.core.runtime import Runtime
from qianshu.evidence import translog
from qianshu.jobs.service import RetryLater, handler


@handler(translog.SEQUENCE_JOB)
def sequence_log(*, runtime: Runtime, session: Session, payload: dict[str, Any]) -> None:
    """Sequence pending entries; retry while the payload's entry waits on another sequencer.

    An earlier job's batch usually took this entry along already; then there is nothing to do.
    """
    entry_id = payload.get("entry_id")
    if not isinstance(entry_id, str):
        translog.sequence_pending(runtime)
        return
    leaf = translog.get_leaf(session=session, entry_id=entry_id)
    if leaf is None or leaf.index is not None:
        return
    translog.sequence_pending(runtime)
    leaf = translog.get_leaf(session=session, entry_id=entry_id)
    if leaf is not None and leaf.index is None:
        raise RetryLater("the log entry is still pending: another process holds the sequencer lease")
