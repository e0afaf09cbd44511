"""The organisation-signed contract with filled values, checked by pdfsig and qpdf.

pdfsig asks the OCSP responder named in each certificate, so the platform is served for real on a
loopback port with the real clock (as in tests/contracts/test_interop.py); here the served runtime
stands in for `runtime`, so the organisation fixtures build on it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from qianshu.core.runtime import Runtime
from qianshu.pki import service as pki_service
from qianshu.signing import service as signing_service
from tests.contracts.conftest import Sent
from tests.contracts.org_signers import SealOrg, bank_server, make_seal_org
from tests.contracts.test_org_signer import check_render, check_report, run_org_contract
from tests.support.live import base_url_of, pdfsig_trusting

__all__ = ["bank_server", "make_seal_org"]  # fixtures used by the test below

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("pdfsig", "pdftoppm", "qpdf", "certutil")),
    reason="poppler-utils, qpdf and libnss3-tools are needed",
)


@pytest.fixture
def settings_overrides(loopback_socket: socket.socket) -> dict[str, Any]:
    return {
        "public_base_url": base_url_of(loopback_socket),
        "signing_identity_level": "two_elements",
        "password_hash_memory_kib": 1024,
        "password_hash_time_cost": 1,
        "password_hash_parallelism": 1,
        "otp_resend_seconds": 0,
    }


@pytest.fixture
def runtime(served: Runtime) -> Runtime:
    return served


def test_org_signed_contract_with_values_passes_pdfsig_and_qpdf(
    runtime: Runtime,
    sent: Sent,
    make_person: Callable[..., str],
    make_seal_org: Callable[..., SealOrg],
    tmp_path: Path,
) -> None:
    _sender, _contract_id, pdf = run_org_contract(runtime, sent, make_person, make_seal_org)
    check_report(signing_service.validate_pdf(pdf, trust_roots=signing_service.trust_roots(runtime=runtime)))
    path = tmp_path / "completed.pdf"
    path.write_bytes(pdf)
    assert subprocess.run(["qpdf", "--check", str(path)], capture_output=True, timeout=120).returncode == 0
    with runtime.transaction() as s:
        root = pki_service.ca_certificate(session=s, kind="root").pem
    verdict = pdfsig_trusting(path, root, tmp_path)
    assert verdict.count("Signature is Valid.") == 2, verdict
    assert verdict.count("Certificate is Trusted.") == 2, verdict
    assert "not signed" not in verdict, verdict
    assert "福建测试科技有限公司" in verdict, verdict  # the organisation's certificate signed
    check_render(pdf, tmp_path)
