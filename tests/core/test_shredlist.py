"""The shred list: append-only, once per (subject, key), and cheap to append to however long it grows."""

from __future__ import annotations

import builtins
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from qianshu.core import shredlist

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_record_lists_each_key_once_and_keeps_the_file_private(tmp_path: Path) -> None:
    for _ in range(3):
        shredlist.record(tmp_path, subject_id="usr_a", key_id="dk_1", at=AT)
    shredlist.record(tmp_path, subject_id="usr_a", key_id="dk_2", at=AT)
    shredlist.record(tmp_path, subject_id="usr_b", key_id="dk_1", at=AT)
    assert [(e.subject_id, e.key_id) for e in shredlist.entries(tmp_path)] == [
        ("usr_a", "dk_1"),
        ("usr_a", "dk_2"),
        ("usr_b", "dk_1"),
    ]
    assert stat.S_IMODE(shredlist.path_for(tmp_path).stat().st_mode) == 0o600


def test_record_sees_lines_other_processes_appended_and_survives_a_torn_line(tmp_path: Path) -> None:
    shredlist.record(tmp_path, subject_id="usr_a", key_id="dk_1", at=AT)
    path = shredlist.path_for(tmp_path)
    with open(path, "a", encoding="utf-8") as fh:  # another process appended, then one crashed mid-line
        fh.write('{"subject_id": "usr_c", "key_id": "dk_9", "at": "2026-01-01T00:00:00+00:00"}\n{"subject_id": "us')
    shredlist.record(tmp_path, subject_id="usr_c", key_id="dk_9", at=AT)  # already listed by the other process
    shredlist.record(tmp_path, subject_id="usr_d", key_id="dk_4", at=AT)
    assert [(e.subject_id, e.key_id) for e in shredlist.entries(tmp_path)] == [
        ("usr_a", "dk_1"),
        ("usr_c", "dk_9"),
        ("usr_d", "dk_4"),
    ]


def test_record_notices_a_replaced_list(tmp_path: Path) -> None:
    shredlist.record(tmp_path, subject_id="usr_a", key_id="dk_1", at=AT)
    path = shredlist.path_for(tmp_path)
    replacement = path.with_name("new.jsonl")
    replacement.write_text("")
    os.replace(replacement, path)  # e.g. the secrets folder restored from elsewhere
    shredlist.record(tmp_path, subject_id="usr_a", key_id="dk_1", at=AT)
    assert [(e.subject_id, e.key_id) for e in shredlist.entries(tmp_path)] == [("usr_a", "dk_1")]


def test_recording_many_keys_reads_each_line_about_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A restore re-applies thousands of entries: each record() reads only what was appended since."""
    read = 0

    class _Counting:
        def __init__(self, fh: Any) -> None:
            self._fh = fh

        def __enter__(self) -> _Counting:
            return self

        def __exit__(self, *exc: object) -> None:
            self._fh.close()

        def read(self, *args: Any) -> bytes:
            nonlocal read
            data: bytes = self._fh.read(*args)
            read += len(data)
            return data

        def __getattr__(self, name: str) -> Any:
            return getattr(self._fh, name)

    def counting_open(*args: Any, **kwargs: Any) -> _Counting:
        return _Counting(builtins.open(*args, **kwargs))

    monkeypatch.setattr(shredlist, "open", counting_open, raising=False)
    n = 2000
    for i in range(n):
        shredlist.record(tmp_path, subject_id=f"usr_{i}", key_id="dk_1", at=AT)
    for i in range(0, n, 7):  # repeats are recognised without growing the file
        shredlist.record(tmp_path, subject_id=f"usr_{i}", key_id="dk_1", at=AT)
    size = shredlist.path_for(tmp_path).stat().st_size
    assert len(shredlist.entries(tmp_path)) == n
    assert read <= 2 * size  # re-reading the whole file each time would read about n/2 times its size
