"""The RFC 3161 time-stamp authority: `openssl ts -verify`, protocol errors, pyHanko time-stampers."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms, tsp
from sqlalchemy.orm import Session

from qianshu.core.clock import FrozenClock
from qianshu.core.errors import InvalidInput
from qianshu.core.runtime import Runtime
from qianshu.pki import service as pki_service
from qianshu.pki import tsa
from qianshu.pki.custody import custody_for
from qianshu.pki.timestampers import LocalTimeStamper, RemoteTimeStamper
from tests.pki.conftest import Openssl

QUERY = {"content-type": "application/timestamp-query"}


def _post(client: Any, der: bytes) -> tsp.TimeStampResp:
    r = client.post("/tsa", content=der, headers=QUERY)
    assert r.headers["content-type"] == "application/timestamp-reply"
    return tsa.TimeStampResponse.load(r.content)


def _tst_info(resp: tsp.TimeStampResp) -> tsp.TSTInfo:
    return resp["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed


def test_openssl_verifies_our_tokens(
    client: Any, openssl: Openssl, ca_files: dict[str, Path], pki_files: Callable[..., Path]
) -> None:
    data = pki_files("contract.txt", b"", as_pem=False)
    data.write_bytes("甲方与乙方签署的合同全文".encode())
    made = openssl("ts", "-query", "-data", "contract.txt", "-sha256", "-cert", "-out", "req.tsq")
    assert made.returncode == 0, made.stderr
    work = data.parent
    r = client.post("/tsa", content=(work / "req.tsq").read_bytes(), headers=QUERY)
    assert r.status_code == 200
    (work / "resp.tsr").write_bytes(r.content)
    for args in (
        ["-data", "contract.txt"],
        ["-queryfile", "req.tsq"],  # also checks the nonce and imprint against the query
    ):
        out = openssl(
            "ts",
            "-verify",
            *args,
            "-in",
            "resp.tsr",
            "-CAfile",
            str(ca_files["root"]),
            "-untrusted",
            str(ca_files["tsa"]),
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert "Verification: OK" in out.stdout
    data.write_bytes(b"tampered")
    out = openssl(
        "ts",
        "-verify",
        "-data",
        "contract.txt",
        "-in",
        "resp.tsr",
        "-CAfile",
        str(ca_files["root"]),
        "-untrusted",
        str(ca_files["tsa"]),
    )
    assert out.returncode != 0


def test_token_fields(client: Any, session: Session, clock: FrozenClock, runtime: Runtime) -> None:
    digest = hashlib.sha256(b"doc").digest()
    resp = _post(client, tsa.build_request(digest=digest, nonce=2**70 + 5, cert_req=True))
    assert resp["status"]["status"].native == "granted"
    info = _tst_info(resp)
    assert info["policy"].native == runtime.settings.tsa_policy_oid
    assert info["message_imprint"]["hashed_message"].native == digest
    assert info["nonce"].native == 2**70 + 5
    assert info["accuracy"]["seconds"].native == 1
    assert info["gen_time"].native == clock.now()
    signed: cms.SignedData = resp["time_stamp_token"]["content"]
    certs = {c.chosen.dump() for c in signed["certificates"]}
    assert certs == {
        pki_service.tsa_certificate_der(session=session),
        pki_service.ca_chain(session=session)[0],
    }
    attrs = {a["type"].native: a["values"][0] for a in signed["signer_infos"][0]["signed_attrs"]}
    ess = attrs["signing_certificate_v2"]["certs"][0]
    assert (
        ess["cert_hash"].native == hashlib.sha256(pki_service.tsa_certificate_der(session=session)).digest()
    )


def test_cert_req_false_omits_certificates(client: Any) -> None:
    resp = _post(client, tsa.build_request(digest=hashlib.sha256(b"x").digest(), cert_req=False))
    assert resp["status"]["status"].native == "granted"
    assert not resp["time_stamp_token"]["content"]["certificates"]


def test_serial_numbers_are_unique_and_increasing(client: Any) -> None:
    serials = [
        _tst_info(
            _post(client, tsa.build_request(digest=hashlib.sha512(bytes([i])).digest(), hash_algo="sha512"))
        )["serial_number"].native
        for i in range(5)
    ]
    assert len(set(serials)) == 5
    assert [s >> 64 for s in serials] == sorted(s >> 64 for s in serials)
    assert all(s > 0 for s in serials)


def _failure(resp: tsp.TimeStampResp) -> set[str]:
    assert resp["status"]["status"].native == "rejection"
    return set(resp["status"]["fail_info"].native)


def test_malformed_query_is_bad_data_format(client: Any) -> None:
    assert _failure(_post(client, b"not a request")) == {"bad_data_format"}
    assert _failure(_post(client, b"")) == {"bad_data_format"}


def test_weak_or_unknown_hash_is_bad_alg(client: Any) -> None:
    req = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha1"},
                "hashed_message": hashlib.sha1(b"x").digest(),
            },
        }
    )
    assert _failure(_post(client, req.dump())) == {"bad_alg"}


def test_wrong_imprint_length_is_bad_data_format(client: Any) -> None:
    req = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"short"},
        }
    )
    assert _failure(_post(client, req.dump())) == {"bad_data_format"}


def test_other_policy_is_unaccepted(client: Any) -> None:
    req = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"\0" * 32},
            "req_policy": "1.2.3.4",
        }
    )
    assert _failure(_post(client, req.dump())) == {"unaccepted_policy"}


def test_missing_tsa_key_is_system_failure_503(client: Any, session: Session, runtime: Runtime) -> None:
    custody_for(runtime).destroy(pki_service.ca_certificate(session=session, kind="tsa").key_label)
    r = client.post("/tsa", content=tsa.build_request(digest=b"\0" * 32), headers=QUERY)
    assert r.status_code == 503
    assert _failure(tsa.TimeStampResponse.load(r.content)) == {"system_failure"}


# --- the Python API and pyHanko time-stampers ----------------------------------------------


def test_timestamp_api(session: Session, clock: FrozenClock) -> None:
    digest = hashlib.sha384(b"evidence").digest()
    der = pki_service.timestamp(session=session, clock=clock, digest=digest, hash_algo="sha384", nonce=7)
    info = _tst_info(tsp.TimeStampResp.load(der))
    assert info["nonce"].native == 7 and info["message_imprint"]["hashed_message"].native == digest
    token = cms.ContentInfo.load(pki_service.timestamp_token(session=session, clock=clock, digest=b"\1" * 32))
    assert token["content_type"].native == "signed_data"
    with pytest.raises(InvalidInput):
        pki_service.timestamp(session=session, clock=clock, digest=b"\1" * 31)


@pytest.mark.parametrize("with_session", [True, False])
def test_local_timestamper_works_with_pyhanko(runtime: Runtime, session: Session, with_session: bool) -> None:
    stamper = pki_service.timestamper_for(runtime, session=session if with_session else None)
    assert isinstance(stamper, LocalTimeStamper)
    digest = hashlib.sha256(b"pdf bytes").digest()
    token = asyncio.run(stamper.async_timestamp(digest, "sha256"))
    info = token["content"]["encap_content_info"]["content"].parsed
    assert info["message_imprint"]["hashed_message"].native == digest
    assert info["nonce"].native is not None  # pyHanko sends one and checks the echo


def test_local_timestamper_raises_when_the_tsa_cannot_sign(runtime: Runtime, session: Session) -> None:
    custody_for(runtime).destroy(pki_service.ca_certificate(session=session, kind="tsa").key_label)
    stamper = pki_service.timestamper_for(runtime)
    with pytest.raises(pki_service.TimestampUnavailable):
        asyncio.run(stamper.async_timestamp(hashlib.sha256(b"x").digest(), "sha256"))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_remote_timestamper_when_configured_and_failure_is_an_error(runtime: Runtime) -> None:
    runtime.settings.tsa_url = f"http://127.0.0.1:{_closed_port()}/tsa"
    stamper = pki_service.timestamper_for(runtime)
    assert isinstance(stamper, RemoteTimeStamper)
    with pytest.raises(pki_service.TimestampUnavailable):
        asyncio.run(stamper.async_timestamp(hashlib.sha256(b"x").digest(), "sha256"))


ASSETS = Path(__file__).resolve().parents[1] / "assets" / "pki"


@pytest.mark.parametrize(
    ("asset", "failure"),
    [
        ("tsa_query_truncated.tsq", "bad_data_format"),
        ("tsa_query_unknown_extension.tsq", "unaccepted_extensions"),
    ],
)
def test_bad_query_assets_are_rejected(client: Any, asset: str, failure: str) -> None:
    assert _failure(_post(client, (ASSETS / asset).read_bytes())) == {failure}
