"""Fixtures of the PKI tests: a wall-clock-aligned clock, openssl, SoftHSM2 tokens, subjects."""

from __future__ import annotations

import base64
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from qianshu.core.clock import FrozenClock, SystemClock
from qianshu.core.ids import new_id
from qianshu.pki import service as pki_service

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
USCC = "91350100M000100Y43"  # a well-formed unified social credit code (GB 32100-2015 check digit)


@pytest.fixture
def clock() -> FrozenClock:
    """A frozen clock at the real time, so openssl (which checks validity now) agrees with it."""
    return FrozenClock(SystemClock().now().replace(microsecond=0))


def pem(der: bytes, label: str = "CERTIFICATE") -> str:
    """Return DER as PEM."""
    body = base64.b64encode(der).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n"


Openssl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def openssl(tmp_path: Path) -> Openssl:
    """Run `openssl ARGS…` in a scratch folder; return the completed process (not checked)."""
    work = tmp_path / "openssl"
    work.mkdir(exist_ok=True)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["openssl", *args], cwd=work, capture_output=True, text=True, timeout=60)

    return run


@pytest.fixture
def pki_files(tmp_path: Path) -> Callable[..., Path]:
    """Write certificates/CRLs into the openssl scratch folder: `pki_files(name, der, pem=True)`."""
    work = tmp_path / "openssl"
    work.mkdir(exist_ok=True)

    def write(name: str, *ders: bytes, as_pem: bool = True) -> Path:
        path = work / name
        if as_pem:
            path.write_text("".join(pem(d) for d in ders), encoding="ascii")
        else:
            path.write_bytes(b"".join(ders))
        return path

    return write


@pytest.fixture
def ca_files(session: Session, pki_files: Callable[..., Path]) -> dict[str, Path]:
    """Write root.pem, issuing.pem, tsa.pem, ocsp.pem and chain.pem for openssl."""
    root, issuing = (
        pki_service.root_certificate_der(session=session),
        pki_service.ca_chain(session=session)[0],
    )
    return {
        "root": pki_files("root.pem", root),
        "issuing": pki_files("issuing.pem", issuing),
        "tsa": pki_files("tsa.pem", pki_service.tsa_certificate_der(session=session)),
        "ocsp": pki_files("ocsp.pem", pki_service.ocsp_certificate_der(session=session)),
        "chain": pki_files("chain.pem", issuing, root),
    }


MakePerson = Callable[..., pki_service.CertificateRead]


@pytest.fixture
def make_person(session: Session, clock: FrozenClock) -> MakePerson:
    """Issue a person certificate through the service: `make_person(name="张三")`."""

    def make(name: str = "张三", subject_id: str | None = None) -> pki_service.CertificateRead:
        cert = pki_service.issue_person_certificate(
            session=session, clock=clock, subject_id=subject_id or new_id("usr"), name=name
        )
        session.commit()
        return cert

    return make


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A SoftHSM2 token in a temp folder; SOFTHSM2_CONF is set before the library is loaded."""
    if not (Path(SOFTHSM_MODULE).exists() and shutil.which("softhsm2-util")):
        pytest.skip("SoftHSM2 is not installed")
    import pkcs11

    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    with pytest.MonkeyPatch.context() as mp:
        pkcs11.unload(SOFTHSM_MODULE)  # a library initialised under another config would ignore ours
        mp.setenv("SOFTHSM2_CONF", str(conf))
        subprocess.run(
            [
                "softhsm2-util",
                "--init-token",
                "--free",
                "--label",
                "qianshu-test",
                "--pin",
                "1234",
                "--so-pin",
                "5678",
            ],
            check=True,
            capture_output=True,
        )
        yield {"module": SOFTHSM_MODULE, "label": "qianshu-test", "pin": "1234"}
        pkcs11.unload(SOFTHSM_MODULE)
