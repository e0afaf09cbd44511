"""The version-1 ciphertext format and its associated-data binding."""

from __future__ import annotations

import os

import pytest

from qianshu.vault import envelope
from qianshu.vault.errors import VaultIntegrityError

KEY = os.urandom(32)
PLACE = envelope.Place(subject_id="usr_a", table="t", column="phone", row_id="r1")


def test_seal_then_open_round_trips() -> None:
    blob = envelope.seal(key=KEY, key_id="dk_1", place=PLACE, plaintext=b"13812345678")
    parsed = envelope.parse(blob)
    assert parsed.version == 1 and parsed.key_id == "dk_1"
    assert envelope.open_envelope(key=KEY, envelope=parsed, place=PLACE) == b"13812345678"


def test_layout_is_version_kid_nonce_ciphertext_tag() -> None:
    blob = envelope.seal(key=KEY, key_id="dk_1", place=PLACE, plaintext=b"abc")
    assert blob[0] == 0x01
    assert blob[1] == 4 and blob[2:6] == b"dk_1"
    assert len(blob) == 2 + 4 + 12 + 3 + 16


def test_nonces_are_fresh_each_time() -> None:
    a = envelope.seal(key=KEY, key_id="dk_1", place=PLACE, plaintext=b"same")
    b = envelope.seal(key=KEY, key_id="dk_1", place=PLACE, plaintext=b"same")
    assert a != b


@pytest.mark.parametrize(
    "other",
    [
        envelope.Place(subject_id="usr_b", table="t", column="phone", row_id="r1"),
        envelope.Place(subject_id="usr_a", table="u", column="phone", row_id="r1"),
        envelope.Place(subject_id="usr_a", table="t", column="email", row_id="r1"),
        envelope.Place(subject_id="usr_a", table="t", column="phone", row_id="r2"),
    ],
)
def test_opening_at_another_place_fails(other: envelope.Place) -> None:
    blob = envelope.seal(key=KEY, key_id="dk_1", place=PLACE, plaintext=b"x")
    with pytest.raises(VaultIntegrityError):
        envelope.open_envelope(key=KEY, envelope=envelope.parse(blob), place=other)


def test_length_prefixing_keeps_parts_apart() -> None:
    assert envelope.length_prefixed("ab", "c") != envelope.length_prefixed("a", "bc")


def test_tampered_byte_fails() -> None:
    blob = bytearray(envelope.seal(key=KEY, key_id="dk_1", place=PLACE, plaintext=b"x"))
    blob[-1] ^= 1
    with pytest.raises(VaultIntegrityError):
        envelope.open_envelope(key=KEY, envelope=envelope.parse(bytes(blob)), place=PLACE)


@pytest.mark.parametrize("blob", [b"", b"\x02\x01a" + b"\0" * 40, b"\x01\x00", b"\x01\x04dk_1" + b"\0" * 10])
def test_malformed_blobs_are_refused(blob: bytes) -> None:
    with pytest.raises(VaultIntegrityError):
        envelope.parse(blob)
