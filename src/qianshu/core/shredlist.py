"""The shred list: an append-only record, outside the database, of every crypto-shredded data key.

Destroying a subject's data key erases their personal data, but a database backup taken earlier
still holds the wrapped key. Backups carry no key material, and a restore re-applies this list,
so a subject shredded after the backup stays shredded once it is restored.

The list lives with the secrets (`<secrets_dir>/vault/shredded.jsonl`, mode 0600), one JSON line
per shredded key: `{"subject_id": …, "key_id": …, "at": …}`. Subject ids are the platform's
pseudonymous ids; nothing else about the person is written. Lines are only ever appended
(`O_APPEND`, fsynced) and written before the shredding transaction commits, so a crash can at
worst leave a line for a shredding that did not commit: a restore then erases that subject's
data too, erring on the side of the deletion the person asked for.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

__all__ = ["ShredEntry", "entries", "path_for", "record"]

_FILE = "shredded.jsonl"


@dataclass(frozen=True)
class ShredEntry:
    """One shredded data key: whose, which, when."""

    subject_id: str
    key_id: str
    at: str


def path_for(secrets_dir: Path) -> Path:
    """Return the shred list's path under `secrets_dir`."""
    return secrets_dir / "vault" / _FILE


def entries(secrets_dir: Path) -> list[ShredEntry]:
    """Read every entry (none when the list does not exist); a torn last line is skipped."""
    path = path_for(secrets_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    found = []
    for line in text.splitlines():
        try:
            item = json.loads(line)
            found.append(ShredEntry(str(item["subject_id"]), str(item["key_id"]), str(item["at"])))
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a crash while appending
    return found


@dataclass
class _Seen:
    """The (subject, key) pairs read so far from one list file, and how far it was read."""

    inode: int = -1
    offset: int = 0
    pairs: set[tuple[str, str]] = field(default_factory=set)


_seen: dict[Path, _Seen] = {}
_seen_lock = threading.Lock()


def _already_listed(path: Path, subject_id: str, key_id: str) -> bool:
    """Tell whether the pair is on the list, reading only what was appended since the last call."""
    if not path.exists():
        _seen.pop(path, None)
        return False
    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        seen = _seen.get(path)
        if seen is None or seen.inode != st.st_ino or st.st_size < seen.offset:  # new or replaced file
            seen = _seen[path] = _Seen(inode=st.st_ino)
        fh.seek(seen.offset)
        chunk = fh.read()
    complete = chunk[: chunk.rfind(b"\n") + 1]  # a torn or half-written last line is read next time
    seen.offset += len(complete)
    for line in complete.splitlines():
        try:
            item = json.loads(line)
            seen.pairs.add((str(item["subject_id"]), str(item["key_id"])))
        except (ValueError, KeyError, TypeError):
            continue
    return (subject_id, key_id) in seen.pairs


def record(secrets_dir: Path, *, subject_id: str, key_id: str, at: datetime) -> None:
    """Append a shredded key to the list (once per subject and key) and fsync it."""
    path = path_for(secrets_dir)
    with _seen_lock:
        if _already_listed(path, subject_id, key_id):
            return
        _append(path, subject_id=subject_id, key_id=key_id, at=at)


def _append(path: Path, *, subject_id: str, key_id: str, at: datetime) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    created = not path.exists()
    line = json.dumps({"subject_id": subject_id, "key_id": key_id, "at": at.isoformat()}) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_size:  # start on a fresh line even after a torn write
            with open(path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    line = "\n" + line
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        with contextlib.suppress(OSError):  # make the new directory entry durable too
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
