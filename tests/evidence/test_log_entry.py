"""Log entries: the documents the public log takes, and their canonical (RFC 8785) bytes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from qianshu.evidence.log_entry import LogEntryInvalid, canonical_entry

NOW = datetime(2026, 1, 5, 2, 0, 0, 123456, tzinfo=UTC)


def test_keys_are_sorted_without_whitespace_and_time_defaults_to_now() -> None:
    body = canonical_entry(
        {"type": "preservation", "sha256": "ab" * 32, "n": 3, "ok": True, "x": None}, now=NOW
    )
    assert body == (
        b'{"n":3,"ok":true,"sha256":"' + b"ab" * 32 + b'","time":"2026-01-05T02:00:00.123Z",'
        b'"type":"preservation","x":null}'
    )
    assert json.loads(body)["time"] == "2026-01-05T02:00:00.123Z"


def test_a_given_time_is_kept_and_nested_objects_are_sorted_too() -> None:
    body = canonical_entry(
        {"type": "evidence.report", "time": "2025-12-31T23:59:59Z", "files": [{"sha256": "01", "alg": "x"}]},
        now=NOW,
    )
    assert body == (
        b'{"files":[{"alg":"x","sha256":"01"}],"time":"2025-12-31T23:59:59Z","type":"evidence.report"}'
    )


def test_the_same_document_always_gives_the_same_bytes() -> None:
    a = canonical_entry({"type": "preservation", "b": "2", "a": "1"}, now=NOW)
    b = canonical_entry({"a": "1", "type": "preservation", "b": "2"}, now=NOW)
    assert a == b


@pytest.mark.parametrize(
    "entry",
    [
        {"sha256": "ab"},  # no type
        {"type": "contract.signed"},  # unknown type
        {"type": ["preservation"]},  # type not a string
        {"type": "preservation", "ratio": 0.5},  # float
        {"type": "preservation", "note": "张三 签署"},  # free text
        {"type": "preservation", "note": "two words"},
        {"type": "preservation", "who": "alice@example.com"},  # e-mail
        {"type": "preservation", "who": "13800138000"},  # phone
        {"type": "preservation", "who": "+8613800138000"},
        {"type": "preservation", "who": "6222021234567890123"},  # bank card
        {"type": "preservation", "who": "11010519491231002X"},  # resident ID number
        {"type": "preservation", "Bad-Key": "x"},
        {"type": "preservation", "time": "yesterday"},
        {"type": "preservation", "time": "2026-01-05T10:00:00+08:00"},  # not UTC
        {"type": "preservation", "n": 2**60},
        {"type": "preservation", "deep": [[[[["x"]]]]]},
        {"type": "preservation", "many": list(range(65))},
        {"type": "preservation", "long": "a" * 257},
        {"type": "preservation", "a": ["a" * 250] * 64, "b": ["b" * 250] * 64},  # over the size limit
    ],
)
def test_entries_the_public_log_refuses(entry: dict[str, object]) -> None:
    with pytest.raises(LogEntryInvalid):
        canonical_entry(entry, now=NOW)


def test_hashes_and_ids_are_not_mistaken_for_personal_data() -> None:
    values = ["0123456789" * 6 + "abcd", "ctr_0123456789abcdefghjk", "2026", "1" * 10]
    canonical_entry({"type": "preservation", "v": values}, now=NOW)
