"""C2SP signed notes and checkpoints: the golang.org/x/mod/sumdb/note vector, key ids, bad notes."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from qianshu.evidence import checkpoint
from qianshu.evidence.checkpoint import InvalidNote

# The example key pair and note of golang.org/x/mod/sumdb/note (note_test.go); Ed25519 is
# deterministic (RFC 8032), so signing the text with that key must give exactly this note.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
GO_SIG = (
    "— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
GO_NOTE = GO_TEXT + "\n" + GO_SIG


def _go_private_key() -> Ed25519PrivateKey:
    raw = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert raw[0] == 0x01
    return Ed25519PrivateKey.from_private_bytes(raw[1:])


def _raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def test_key_id_follows_the_note_spec() -> None:
    pub = _raw_public(_go_private_key())
    expected = hashlib.sha256(b"PeterNeumann" + b"\x0a" + b"\x01" + pub).digest()[:4]
    assert checkpoint.key_id("PeterNeumann", pub) == expected == bytes.fromhex("c74f20a3")


def test_verifier_key_string_matches_the_go_encoding() -> None:
    pub = _raw_public(_go_private_key())
    assert checkpoint.verifier_key_string("PeterNeumann", pub) == GO_VKEY
    verifier = checkpoint.parse_verifier_key(GO_VKEY)
    assert (verifier.name, verifier.key_id.hex(), verifier.public_key) == ("PeterNeumann", "c74f20a3", pub)


def test_signing_reproduces_the_go_note_byte_for_byte() -> None:
    key = _go_private_key()
    note = checkpoint.sign_note(GO_TEXT, name="PeterNeumann", public_key=_raw_public(key), sign=key.sign)
    assert note == GO_NOTE


def test_open_note_accepts_the_go_note_and_rejects_a_changed_text() -> None:
    verifier = checkpoint.parse_verifier_key(GO_VKEY)
    assert checkpoint.open_note(GO_NOTE, [verifier]) == GO_TEXT
    with pytest.raises(InvalidNote, match="does not verify"):
        checkpoint.open_note(GO_NOTE.replace("cryptography", "cryptographY"), [verifier])


@pytest.mark.parametrize(
    "bad_key",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # key id off by one
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # upper-case hex
        "PeterNeumann+c74f20a3+AhpcxQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # not type 0x01
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",  # short key
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # space in name
        "PeterNeumann+c74f20a3",  # no key
        "PeterNeumann+c74f20a3+!!!",  # not base64
    ],
)
def test_malformed_verifier_keys_are_refused(bad_key: str) -> None:
    with pytest.raises(InvalidNote):
        checkpoint.parse_verifier_key(bad_key)


def test_unknown_signatures_are_ignored_but_one_known_signature_is_required() -> None:
    go = checkpoint.parse_verifier_key(GO_VKEY)
    other = Ed25519PrivateKey.generate()
    other_note = checkpoint.sign_note(
        GO_TEXT, name="other.example/log", public_key=_raw_public(other), sign=other.sign
    )
    both = GO_NOTE + other_note.split("\n\n", 1)[1]  # two signature lines
    assert checkpoint.open_note(both, [go]) == GO_TEXT
    with pytest.raises(InvalidNote, match="no signature by a trusted key"):
        checkpoint.open_note(other_note, [go])
    # Same name and key id as the trusted key but a wrong signature: the whole note is rejected.
    forged_blob = base64.b64encode(go.key_id + bytes(64)).decode()
    forged = GO_TEXT + "\n" + f"— PeterNeumann {forged_blob}\n" + other_note.split("\n\n", 1)[1]
    with pytest.raises(InvalidNote, match="does not verify"):
        checkpoint.open_note(forged, [go])


@pytest.mark.parametrize(
    "note",
    [
        GO_TEXT + GO_SIG,  # no blank line
        GO_TEXT + "\n",  # no signature
        GO_TEXT + "\n" + GO_SIG.replace("—", "-"),  # hyphen, not em dash
        GO_TEXT + "\n" + GO_SIG.replace("x08go", "x08g!"),  # bad base64
        GO_TEXT + "\n" + GO_SIG[:-1],  # no final newline
        GO_TEXT + "\n" + "— PeterNeumann AAAA\n",  # signature shorter than a key id
        GO_TEXT.replace("problem,", "problem,\t") + "\n" + GO_SIG,  # control character
        GO_TEXT + "\n" + GO_SIG * 101,  # too many signatures
    ],
)
def test_malformed_notes_are_rejected(note: str) -> None:
    with pytest.raises(InvalidNote):
        checkpoint.open_note(note, [checkpoint.parse_verifier_key(GO_VKEY)])


def test_checkpoint_text_has_origin_size_and_base64_root() -> None:
    root = hashlib.sha256(b"").digest()
    text = checkpoint.format_checkpoint("qianshu.local/log", 0, root)
    assert text == "qianshu.local/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    parsed = checkpoint.parse_checkpoint(text)
    assert (parsed.origin, parsed.size, parsed.root_hash, parsed.extensions) == (
        "qianshu.local/log",
        0,
        root,
        (),
    )
    with_ext = checkpoint.parse_checkpoint(text + "ext line\n")
    assert with_ext.extensions == ("ext line",)


@pytest.mark.parametrize(
    "text",
    [
        "origin\n012\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",  # leading zero
        "origin\n-1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",  # negative
        "origin\n12\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n",  # unpadded
        "origin\n12\nAAAA\n",  # not 32 bytes
        "origin\n12\n",  # no root
        "origin\n12\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",  # no final newline
        "origin\n12\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n",  # empty extension line
    ],
)
def test_malformed_checkpoints_are_rejected(text: str) -> None:
    with pytest.raises(InvalidNote):
        checkpoint.parse_checkpoint(text)


def test_verify_checkpoint_checks_signature_and_origin() -> None:
    key = Ed25519PrivateKey.generate()
    pub = _raw_public(key)
    origin = "qianshu.example/log"
    root = hashlib.sha256(b"root").digest()
    note = checkpoint.sign_note(
        checkpoint.format_checkpoint(origin, 42, root), name=origin, public_key=pub, sign=key.sign
    )
    vkey = checkpoint.verifier_key_string(origin, pub)
    parsed = checkpoint.verify_checkpoint(note, vkey)
    assert (parsed.origin, parsed.size, parsed.root_hash) == (origin, 42, root)
    with pytest.raises(InvalidNote, match="origin"):
        checkpoint.verify_checkpoint(note, vkey, origin="another.example/log")
    with pytest.raises(InvalidNote):
        checkpoint.verify_checkpoint(note.replace("\n42\n", "\n43\n"), vkey)
    stranger = checkpoint.verifier_key_string(origin, _raw_public(Ed25519PrivateKey.generate()))
    with pytest.raises(InvalidNote):
        checkpoint.verify_checkpoint(note, stranger)


def test_sign_note_refuses_a_signer_that_does_not_match_the_key() -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    with pytest.raises(ValueError, match="does not verify"):
        checkpoint.sign_note(
            "o\n1\n" + base64.b64encode(bytes(32)).decode() + "\n",
            name="o",
            public_key=_raw_public(key),
            sign=other.sign,
        )
    with pytest.raises(ValueError):
        checkpoint.sign_note("no final newline", name="o", public_key=_raw_public(key), sign=key.sign)
    with pytest.raises(ValueError):
        checkpoint.sign_note("a\n", name="bad+name", public_key=_raw_public(key), sign=key.sign)
