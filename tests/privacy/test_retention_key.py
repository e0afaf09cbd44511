"""The retention key pair (P7): the platform keeps the public half only; the operator holds the private one."""

from __future__ import annotations

import os
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from typer.testing import CliRunner

from qianshu.cli import app
from qianshu.config import Settings
from qianshu.core.clock import FrozenClock
from qianshu.core.errors import InvalidInput
from qianshu.core.runtime import Runtime
from qianshu.privacy import cancellation, retention
from qianshu.privacy.centre_models import RetainedRecord
from qianshu.vault import service as vault_service
from tests.conftest import retention_private_key_path
from tests.privacy.centre_support import CHEAP_HASHING, Outbox, install_outbox, register_user

PHONE = "13800138301"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return dict(CHEAP_HASHING)


@pytest.fixture
def outbox(monkeypatch: pytest.MonkeyPatch) -> Outbox:
    return install_outbox(monkeypatch)


def _cancel_a_certificate_holder(runtime: Runtime, outbox: Outbox, clock: FrozenClock) -> str:
    from qianshu.pki import service as pki_service

    user = register_user(runtime, outbox, PHONE)
    with runtime.transaction() as s:
        pki_service.issue_person_certificate(session=s, clock=clock, subject_id=user, name="张三")
    with runtime.transaction() as s:
        challenge = cancellation.start(session=s, clock=clock, user_id=user)
    with runtime.transaction() as s:
        cancellation.confirm(
            session=s, clock=clock, user_id=user, request_id=challenge.request_id, code=outbox.last_code(PHONE)
        )
    clock.advance(timedelta(days=runtime.settings.cancellation_cooling_off_days + 1))
    with runtime.transaction() as s:
        assert cancellation.execute(session=s, clock=clock, request_id=challenge.request_id)
    return user


def _every_file(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def test_the_platform_cannot_open_retained_records_by_itself(
    runtime: Runtime, outbox: Outbox, clock: FrozenClock
) -> None:
    user = _cancel_a_certificate_holder(runtime, outbox, clock)
    pem = retention_private_key_path(runtime).read_bytes()
    raw = vault_service.load_retention_private_key(pem)
    # nothing the platform keeps (data folder, secrets, database file) holds the private key
    for path in _every_file(runtime.settings.data_dir):
        content = path.read_bytes()
        assert raw not in content and pem.strip() not in content, path
    folder = vault_service.retention_key_dir(runtime)
    assert sorted(p.name for p in folder.iterdir()) == ["KID", "public.key"]
    assert folder.is_relative_to(runtime.settings.secrets_dir)
    # a key the operator does not hold does not open them; the operator's offline key does
    wrong = X25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    with runtime.transaction() as s:
        assert s.query(RetainedRecord).filter_by(subject_id=user).count() == 3  # name, phone, certificate
        with pytest.raises(vault_service.VaultIntegrityError):
            retention.open_retained_records(session=s, user_id=user, private_key=wrong)
        with pytest.raises(vault_service.VaultIntegrityError):
            retention.open_retained_records(session=s, user_id=user, private_key=b"not a key")
        opened = retention.open_retained_records(session=s, user_id=user, private_key=pem)
    assert len(opened.pop("pki.certificate")) == 1  # the certificate's DER, sealed by pki
    assert opened == {"accounts.display_name": ["张三"], "accounts.phone": [PHONE]}


def test_without_a_retention_key_nothing_is_sealed_and_the_reason_names_the_command(
    settings: Settings, clock: FrozenClock, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"retention_key_dir": tmp_path / "fresh-retention"})
    runtime = Runtime(settings, clock=clock)
    try:
        from qianshu import bootstrap

        bootstrap.prepare(runtime)
        assert vault_service.retention_key_status(runtime=runtime).kid is None  # demo off: none is made
        with runtime.transaction() as s, pytest.raises(vault_service.KeyMissing) as caught:
            vault_service.open_retention_sealer(session=s, clock=clock, subject_id="usr_x")
        assert "qianshu privacy retention-key init" in caught.value.detail
    finally:
        runtime.close()


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """A CLI runner on the test's database, with a retention key folder not set up yet."""
    monkeypatch.setenv("QIANSHU_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("QIANSHU_DEMO", "false")
    monkeypatch.setenv("QIANSHU_RETENTION_KEY_DIR", str(tmp_path / "data" / "secrets" / "retention-cli"))
    return CliRunner()


def test_init_hands_the_private_key_over_once_and_never_into_the_platform(
    cli: CliRunner, settings: Settings, tmp_path: Path
) -> None:
    data_dir = ["--data-dir", str(settings.data_dir)]
    folder = tmp_path / "data" / "secrets" / "retention-cli"
    status = cli.invoke(app, ["privacy", "retention-key", "status", *data_dir])
    assert status.exit_code == 1 and "kid\t-" in status.output
    neither = cli.invoke(app, ["privacy", "retention-key", "init", *data_dir])
    assert neither.exit_code == 1 and "--out" in neither.output
    inside = cli.invoke(
        app, ["privacy", "retention-key", "init", "--out", str(settings.data_dir / "key.pem"), *data_dir]
    )
    assert inside.exit_code == 1 and "数据或密钥目录" in inside.output and not folder.exists()

    offline = tmp_path / "usb" / "retention.pem"
    offline.parent.mkdir()
    made = cli.invoke(app, ["privacy", "retention-key", "init", "--out", str(offline), *data_dir])
    assert made.exit_code == 0, made.output
    assert "BEGIN PRIVATE KEY" not in made.output  # written to the file only
    assert stat.S_IMODE(offline.stat().st_mode) == 0o600
    pem = offline.read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    private = X25519PrivateKey.from_private_bytes(vault_service.load_retention_private_key(pem))
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert sorted(p.name for p in folder.iterdir()) == ["KID", "public.key"]
    assert (folder / "public.key").read_bytes() == public
    kid = (folder / "KID").read_text().split()[0]
    assert kid in made.output

    again = cli.invoke(app, ["privacy", "retention-key", "init", "--print", *data_dir])
    assert again.exit_code == 1 and "已存在" in again.output  # never silently replaced
    overwrite = cli.invoke(app, ["privacy", "retention-key", "init", "--out", str(offline), "--replace", *data_dir])
    assert overwrite.exit_code == 1 and offline.read_bytes() == pem  # an existing file is never overwritten
    assert (folder / "public.key").read_bytes() == public
    ok = cli.invoke(app, ["privacy", "retention-key", "status", *data_dir])
    assert ok.exit_code == 0 and f"kid\t{kid}" in ok.output and "private_key_on_platform\tno" in ok.output

    printed = cli.invoke(app, ["privacy", "retention-key", "init", "--print", "--replace", *data_dir])
    assert printed.exit_code == 0 and "-----BEGIN PRIVATE KEY-----" in printed.output
    new_pem = printed.output[printed.output.index("-----BEGIN") : printed.output.index("-----END")]
    assert new_pem.encode() not in b"".join(p.read_bytes() for p in _every_file(settings.data_dir))
    assert (folder / "KID").read_text().split()[0] != kid


def test_a_private_key_left_on_the_platform_blocks_sealing_until_handed_over(
    cli: CliRunner, settings: Settings, tmp_path: Path, runtime: Runtime, clock: FrozenClock
) -> None:
    """An older version kept private.key next to the public key: hand it over and erase it."""
    folder = tmp_path / "data" / "secrets" / "retention-cli"
    folder.mkdir(parents=True)
    old = X25519PrivateKey.generate()
    raw = old.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    (folder / "private.key").write_bytes(raw)
    (folder / "public.key").write_bytes(old.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    (folder / "KID").write_text("rtk_old\n")
    legacy = Runtime(settings.model_copy(update={"retention_key_dir": folder}), clock=clock)
    try:
        with legacy.transaction() as s, pytest.raises(vault_service.KeyMissing) as caught:
            vault_service.open_retention_sealer(session=s, clock=clock, subject_id="usr_a")
        assert "hand-over" in caught.value.detail
        data_dir = ["--data-dir", str(settings.data_dir)]
        offline = tmp_path / "safe.pem"
        done = cli.invoke(app, ["privacy", "retention-key", "hand-over", "--out", str(offline), *data_dir])
        assert done.exit_code == 0, done.output
        assert not (folder / "private.key").exists()
        assert vault_service.load_retention_private_key(offline.read_bytes()) == raw
        assert os.listdir(folder) and sorted(os.listdir(folder)) == ["KID", "public.key"]
        # sealing works again, and the handed-over key opens what is sealed
        with legacy.transaction() as s:
            sealer = vault_service.open_retention_sealer(session=s, clock=clock, subject_id="usr_a")
            blob = sealer.seal(table="t", column="c", row_id="r1", value=b"kept")
            assert (
                vault_service.open_retained(
                    session=s,
                    subject_id="usr_a",
                    table="t",
                    column="c",
                    row_id="r1",
                    blob=blob,
                    private_key=offline.read_bytes(),
                )
                == b"kept"
            )
        nothing = cli.invoke(app, ["privacy", "retention-key", "hand-over", "--print", *data_dir])
        assert nothing.exit_code == 1 and "没有遗留" in nothing.output
    finally:
        legacy.close()


def test_init_into_an_unwritable_folder_leaves_the_old_key_in_force(
    cli: CliRunner, settings: Settings, tmp_path: Path
) -> None:
    """The private key is written out before the new public key is installed; a failed write changes nothing."""
    data_dir = ["--data-dir", str(settings.data_dir)]
    folder = tmp_path / "data" / "secrets" / "retention-cli"
    first = tmp_path / "usb" / "first.pem"
    first.parent.mkdir()
    assert cli.invoke(app, ["privacy", "retention-key", "init", "--out", str(first), *data_dir]).exit_code == 0
    kid, public = (folder / "KID").read_text(), (folder / "public.key").read_bytes()

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores permissions; nobody may create files in /proc
            locked = Path("/proc")
        failed = cli.invoke(
            app, ["privacy", "retention-key", "init", "--out", str(locked / "new.pem"), "--replace", *data_dir]
        )
    finally:
        (tmp_path / "locked").chmod(0o700)
    assert failed.exit_code == 1 and "无法写入私钥文件" in failed.output, failed.output
    assert (folder / "KID").read_text() == kid and (folder / "public.key").read_bytes() == public
    assert not [p for p in os.listdir(locked) if "new.pem" in p]  # no partial key file either


def test_a_failed_hand_over_installs_nothing(runtime: Runtime, tmp_path: Path) -> None:
    folder = vault_service.retention_key_dir(runtime)
    kid, public = (folder / "KID").read_text(), (folder / "public.key").read_bytes()

    def fail(_kid: str, _pem: bytes) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError):
        vault_service.create_retention_key(runtime=runtime, replace=True, hand_over=fail)
    assert (folder / "KID").read_text() == kid and (folder / "public.key").read_bytes() == public


def test_replace_is_refused_while_the_old_private_key_is_on_the_platform(
    settings: Settings, tmp_path: Path, clock: FrozenClock
) -> None:
    folder = tmp_path / "legacy-retention"
    folder.mkdir()
    old = X25519PrivateKey.generate()
    (folder / "private.key").write_bytes(old.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))
    (folder / "public.key").write_bytes(old.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    (folder / "KID").write_text("rtk_old\n")
    legacy = Runtime(settings.model_copy(update={"retention_key_dir": folder}), clock=clock)
    try:
        with pytest.raises(InvalidInput) as caught:
            retention.create_retention_key(runtime=legacy, out=tmp_path / "new.pem", replace=True)
        assert "hand-over" in caught.value.detail
        assert (folder / "KID").read_text() == "rtk_old\n" and not (tmp_path / "new.pem").exists()
    finally:
        legacy.close()


def test_demo_processes_starting_together_install_exactly_one_retention_key(
    settings: Settings, tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve` and the worker both find no key on a demo's first start: one makes it, the other uses it."""
    import threading

    from qianshu.privacy import tasks as privacy_tasks

    folder = tmp_path / "demo-retention"
    demo = settings.model_copy(update={"retention_key_dir": folder, "demo": True})
    runtimes = [Runtime(demo, clock=clock) for _ in range(4)]
    checked = threading.Barrier(len(runtimes))
    real_create = retention.create_retention_key

    def create_after_everyone_checked(**kwargs: Any) -> tuple[str, bytes]:
        checked.wait(timeout=10)  # every process has seen "no key yet" before any makes one
        return real_create(**kwargs)

    monkeypatch.setattr(retention, "create_retention_key", create_after_everyone_checked)
    results: list[str | None] = []
    errors: list[BaseException] = []

    def start(rt: Runtime) -> None:
        try:
            results.append(privacy_tasks.check_retention_key(runtime=rt))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(rt,)) for rt in runtimes]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    finally:
        for rt in runtimes:
            rt.close()
    assert errors == [] and len(results) == len(runtimes)
    made = [r for r in results if r is not None]
    assert len(made) == 1  # exactly one process made (and printed) a key; the others use it
    kid = (folder / "KID").read_text().split()[0]
    assert kid in made[0]
    pem = made[0][made[0].index("-----BEGIN") :].encode()
    private = X25519PrivateKey.from_private_bytes(vault_service.load_retention_private_key(pem))
    assert private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) == (folder / "public.key").read_bytes()


def test_an_interrupted_replacement_is_refused_not_sealed_under_the_wrong_key_id(runtime: Runtime) -> None:
    """The public key and its id are two files: one replaced without the other refuses sealing."""
    folder = vault_service.retention_key_dir(runtime)
    kid_file = (folder / "KID").read_text()
    assert kid_file.split()[1].startswith("sha256:")  # the id names its public key's fingerprint
    with runtime.transaction() as s:  # in force: it seals
        vault_service.open_retention_sealer(session=s, clock=runtime.clock, subject_id="usr_beforecrash0000")
    other = X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    (folder / "public.key").write_bytes(other)  # the new public key landed; the crash came before its id
    with runtime.transaction() as s, pytest.raises(vault_service.VaultIntegrityError) as refused:
        vault_service.open_retention_sealer(session=s, clock=runtime.clock, subject_id="usr_aftercrash00000")
    assert "--replace" in refused.value.detail_en
    (folder / "KID").write_text(kid_file.split()[0] + "\n")  # an id file of an older version names no fingerprint
    with runtime.transaction() as s:
        vault_service.open_retention_sealer(session=s, clock=runtime.clock, subject_id="usr_olderfile000000")
