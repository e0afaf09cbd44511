"""A full deployment keeping its CA, TSA, OCSP, signer and log keys in a PKCS#11 token (SoftHSM2).

`qianshu serve` runs as a real process configured only by environment variables
(QIANSHU_CUSTODY_BACKEND=pkcs11, module, token label, PIN); a contract is sent, signed by two
verified people and completed to B-LTA through the REST API; the signed PDF validates (pyHanko,
and poppler's pdfsig asking the deployment's OCSP responder). Every private key is then found in
the token, none on disk. Skipped only when SoftHSM2 is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scale.deploy import (
    Deployment,
    Inbox,
    check_signed_pdf,
    contract_pdf,
    free_port,
    root_der,
    run_contract,
)

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
LABEL, PIN = "qianshu-deploy", "2468"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (Path(SOFTHSM_MODULE).exists() and shutil.which("softhsm2-util")), reason="SoftHSM2 is not installed"
    ),
]

_LIST_KEYS = """
import json, pkcs11, sys
lib = pkcs11.lib(sys.argv[1])
with lib.get_token(token_label=sys.argv[2]).open(user_pin=sys.argv[3]) as s:
    print(json.dumps(sorted(o.label for o in s.get_objects({pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PRIVATE_KEY}))))
"""


@pytest.fixture
def token_env(tmp_path: Path) -> dict[str, str]:
    """A fresh SoftHSM2 token in its own folder; the environment that points the processes at it."""
    base = tmp_path / "softhsm"
    (base / "tokens").mkdir(parents=True)
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {"SOFTHSM2_CONF": str(conf)}
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", LABEL, "--pin", PIN, "--so-pin", "97531"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        timeout=60,
    )
    return env


def _env(tmp_path: Path, token_env: dict[str, str], port: int, pin: str = PIN) -> dict[str, str]:
    base = f"http://127.0.0.1:{port}"
    return {
        **os.environ,
        **token_env,
        "QIANSHU_DATA_DIR": str(tmp_path / "data"),
        "QIANSHU_DATABASE_URL": "",  # the embedded SQLite database: only the keys move to the token
        "QIANSHU_CUSTODY_BACKEND": "pkcs11",
        "QIANSHU_PKCS11_MODULE": SOFTHSM_MODULE,
        "QIANSHU_PKCS11_TOKEN_LABEL": LABEL,
        "QIANSHU_PKCS11_PIN": pin,
        "QIANSHU_PUBLIC_BASE_URL": base,
        "QIANSHU_SIGNING_IDENTITY_LEVEL": "two_elements",
        "QIANSHU_OTP_RESEND_SECONDS": "0",
        "QIANSHU_DEMO": "false",
        "QIANSHU_PASSWORD_HASH_MEMORY_KIB": "1024",
        "QIANSHU_PASSWORD_HASH_TIME_COST": "1",
        "QIANSHU_PASSWORD_HASH_PARALLELISM": "1",
    }


@pytest.fixture
def hsm_deployment(tmp_path: Path, token_env: dict[str, str]) -> Iterator[Deployment]:
    port = free_port()
    dep = Deployment(env=_env(tmp_path, token_env, port), workdir=tmp_path)
    try:
        dep.serve("app", port)  # the in-process worker runs the jobs (the embedded default)
        yield dep
    finally:
        dep.stop()


def test_contract_flow_with_every_key_in_the_token(hsm_deployment: Deployment, tmp_path: Path) -> None:
    (base,) = hsm_deployment.urls
    done = run_contract(
        sender_base=base, signer_base=base, inbox=Inbox(base), phones=("13900139200", "13800138201", "13800138202")
    )
    pdf = contract_pdf(base, done)
    check_signed_pdf(pdf, root_der(base), tmp_path)

    env = hsm_deployment.env
    listed = subprocess.run(
        [sys.executable, "-c", _LIST_KEYS, SOFTHSM_MODULE, LABEL, PIN],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    labels = json.loads(listed.stdout)
    for prefix in ("root.", "issuing.", "tsa.", "ocsp.", "evidence-log-ed25519"):
        assert any(label.startswith(prefix) for label in labels), (prefix, labels)
    assert sum(label.startswith("person.") for label in labels) >= 2  # both signers' keys
    secrets = Path(env["QIANSHU_DATA_DIR"]) / "secrets"
    assert not (secrets / "keys").exists() and not (secrets / "custody.key").exists()  # no CA key on disk


def test_wrong_pin_is_one_clear_start_up_error(tmp_path: Path, token_env: dict[str, str]) -> None:
    env = _env(tmp_path, token_env, free_port(), pin="0000")
    done = subprocess.run(
        [sys.executable, "-m", "qianshu.cli", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "QIANSHU_PKCS11_PIN" in done.stderr and "Traceback" not in done.stderr + done.stdout
