"""The `qianshu` command line: each command parses, calls one library function and prints."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from qianshu.config import Settings, export_settings, load_settings
from qianshu.core.errors import QianshuError
from qianshu.core.runtime import Runtime

app = typer.Typer(
    help="签署 Qianshu — electronic contracts, CA, TSA and evidence in one service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.")
keys_app = typer.Typer(help="Key-encryption keys and secrets.")
user_app = typer.Typer(help="Accounts.")
ca_app = typer.Typer(help="Certification authority.")
audit_app = typer.Typer(help="Audit trail.")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(user_app, name="user")
app.add_typer(ca_app, name="ca")
app.add_typer(audit_app, name="audit")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (default ./var or QIANSHU_DATA_DIR).")]


def _settings(data_dir: Path | None = None, **overrides: object) -> Settings:
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    return load_settings(**overrides)


def _runtime(data_dir: Path | None = None, *, migrate: bool = True, **overrides: object) -> Runtime:
    from qianshu.core.logging import configure_logging

    configure_logging("WARNING")
    runtime = Runtime(_settings(data_dir, **overrides))
    if migrate:
        from qianshu import bootstrap

        for message in bootstrap.prepare(runtime):
            typer.echo(message)
    return runtime


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


# --- wiring ---------------------------------------------------------------------------------


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    workers: Annotated[int, typer.Option(help="Number of app processes.")] = 1,
) -> None:
    """Set up the data directory on first run, migrate, and serve the platform."""
    import uvicorn

    from qianshu import bootstrap
    from qianshu.app import create_app
    from qianshu.core.logging import configure_logging

    overrides: dict[str, object] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    settings = _settings(data_dir, **overrides)
    unsafe = settings.unsafe_defaults()
    if unsafe:
        flags = ", ".join(f"QIANSHU_{name.upper()}" for name in unsafe)
        _fail(
            f"{settings.public_base_url} is not a loopback address, but {flags} default to on: the sandbox "
            f"shows every SMS code and demo mode prints an operator password. Set them to false (or true, "
            f"explicitly, for a public demo)."
        )
    from qianshu.ops.service import sandbox_secrets_in_use

    weak = sandbox_secrets_in_use(settings)
    if weak:
        names = ", ".join(f"QIANSHU_{name.upper()}" for name in weak)
        _fail(
            f"{names} still hold the published sandbox default while the provider is real (*_backend=http): "
            "set a secret shared only with the provider / 请为真实服务商设置专用密钥"
        )
    configure_logging("INFO")
    runtime = Runtime(settings)
    from qianshu.ops.service import preflight

    preflight(runtime)  # an unreachable dependency: one line naming the setting, exit 1
    for message in bootstrap.prepare(runtime):
        typer.echo(message)
    typer.echo(f"签署 Qianshu listening on http://{settings.host}:{settings.port}  (data: {settings.data_dir})")
    if workers > 1 and (settings.effective_database_url.startswith("sqlite") or not settings.redis_url):
        _fail("--workers > 1 needs PostgreSQL and Redis (QIANSHU_DATABASE_URL, QIANSHU_REDIS_URL)")
    if workers > 1:
        # N processes (uvicorn supervises them); each builds its own runtime from the same settings,
        # passed through the environment, since a spawned process starts from scratch.
        export_settings(settings, "data_dir", "host", "port")
        runtime.engine.dispose()
        uvicorn.run(
            "qianshu.cli:worker_app",
            factory=True,
            workers=workers,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
        )
        return
    uvicorn.run(create_app(runtime), host=settings.host, port=settings.port, log_config=None, access_log=False)


def worker_app() -> object:
    """The app of one `qianshu serve --workers N` process: what `qianshu serve` does, without the messages."""
    from qianshu.app import create_app
    from qianshu.core.logging import configure_logging

    configure_logging("INFO")
    # The parent ran `bootstrap.prepare` once (migrations, keys, CA, schedules) before starting the
    # workers; components such as the keyring are built lazily here, so nothing is done again.
    return create_app(Runtime(load_settings()))


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """Apply database migrations."""
    from qianshu import db

    runtime = _runtime(data_dir, migrate=False)
    runtime.migrate()
    typer.echo(f"database at revision {db.current_revision(runtime.engine)}")


@app.command()
def worker(
    data_dir: DataDir = None,
    threads: Annotated[
        int | None, typer.Option(help="Jobs run at a time (default: QIANSHU_JOB_WORKER_THREADS).", min=1, max=32)
    ] = None,
) -> None:
    """Run background jobs in the foreground (with QIANSHU_JOBS_BACKEND=dramatiq: consumer + relay)."""
    from qianshu import bootstrap
    from qianshu.jobs import worker as jobs_worker
    from qianshu.ops.service import preflight

    runtime = _runtime(data_dir, migrate=False)
    preflight(runtime)  # an unreachable dependency: one line naming the setting, exit 1
    for message in bootstrap.prepare(runtime):
        typer.echo(message)
    if runtime.settings.jobs_backend == "dramatiq":
        from qianshu.jobs import dramatiq_backend

        typer.echo(f"dramatiq worker running on queue {runtime.settings.dramatiq_queue}; Ctrl-C to stop")
        dramatiq_backend.run_worker(runtime, threads=threads or runtime.settings.job_worker_threads)
        return
    typer.echo("worker running; Ctrl-C to stop")
    jobs_worker.run_forever(runtime, threads=threads)


# --- operations (ops): backup, restore ---------------------------------------------------------


def _passphrase(file: Path | None, *, confirm: bool) -> str:
    if file is not None:
        return file.read_text(encoding="utf-8").rstrip("\r\n")
    configured = load_settings().backup_passphrase
    if configured is not None:
        return configured.get_secret_value()
    value: str = typer.prompt("备份口令 / backup passphrase", hide_input=True, confirmation_prompt=confirm)
    return value


PassphraseFile = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        exists=True,
        dir_okay=False,
        help="File holding the passphrase (default: QIANSHU_BACKUP_PASSPHRASE, else a prompt).",
    ),
]


@app.command()
def backup(
    out: Annotated[Path, typer.Option("--out", dir_okay=False, help="Backup file to write.")],
    passphrase_file: PassphraseFile = None,
    data_dir: DataDir = None,
) -> None:
    """Write an encrypted, consistent backup: database snapshot and blobs (no keys: keep the secrets apart)."""
    from qianshu.ops import service as ops_service

    passphrase = _passphrase(passphrase_file, confirm=True)
    runtime = _runtime(data_dir)
    try:
        result = ops_service.create_backup(runtime=runtime, out=out, passphrase=passphrase)
    finally:
        runtime.close()
    typer.echo(
        f"已写入备份 / wrote {result.path} ({result.size} bytes): {result.tables} tables, "
        f"{result.rows} rows, {result.blobs} blobs, revision {result.revision}; "
        f"no keys inside: keep the secrets directory ({runtime.settings.secrets_dir}) apart"
    )


@app.command()
def restore(
    src: Annotated[Path, typer.Option("--in", exists=True, dir_okay=False, help="Backup file to restore.")],
    passphrase_file: PassphraseFile = None,
    data_dir: DataDir = None,
) -> None:
    """Restore a backup into an empty database (secrets directory put back first); verify chains and blobs."""
    from qianshu import bootstrap
    from qianshu.ops import service as ops_service

    passphrase = _passphrase(passphrase_file, confirm=False)
    runtime = _runtime(data_dir, migrate=False)
    try:
        result = ops_service.restore_backup(runtime=runtime, source=src, passphrase=passphrase)
        typer.echo(
            f"已恢复 / restored {result.rows} rows, {result.blobs} blobs, "
            f"{result.shreds_reapplied} shredded keys destroyed again (from {result.source_dialect}, "
            f"revision {result.revision})"
        )
        for message in bootstrap.prepare(runtime):
            typer.echo(message)
        check = ops_service.verify_installation(runtime=runtime)
    finally:
        runtime.close()
    broken = len(check.chain_breaks)
    typer.echo(f"审计链 / audit chains: {check.streams} streams, {check.events} events, {broken} broken")
    typer.echo(
        f"文件 / blobs: {check.blobs_ok} readable, {check.blobs_shredded} shredded, "
        f"{check.blobs_orphaned} orphaned, {len(check.blob_failures)} failed"
    )
    for line in check.chain_breaks + check.blob_failures:
        typer.echo(f"BROKEN {line}", err=True)
    if not check.ok:
        _fail("恢复后的校验未通过 / verification after restore FAILED")


# --- keys (vault) ---------------------------------------------------------------------------


@keys_app.command("rotate-kek")
def keys_rotate_kek(
    data_dir: DataDir = None,
    retire: Annotated[bool, typer.Option("--retire", help="Delete old KEKs no data key needs.")] = False,
) -> None:
    """Make a new key-encryption key current and re-wrap every data key with it (data untouched)."""
    from qianshu.vault import service as vault_service

    runtime = _runtime(data_dir)
    result = vault_service.rotate_kek(runtime=runtime, retire_old=retire)
    typer.echo(f"新的密钥加密密钥 / new KEK: {result.new_kid}")
    typer.echo(f"已重新封装 / re-wrapped {result.rewrapped} data keys")
    for kid in result.retired:
        typer.echo(f"已销毁旧密钥 / retired {kid}")


@keys_app.command("status")
def keys_status(data_dir: DataDir = None) -> None:
    """Show the KEK ring: the current kid and how many data keys each KEK wraps."""
    from qianshu.vault import service as vault_service

    runtime = _runtime(data_dir)
    status = vault_service.key_status(runtime=runtime)
    for kid, count in sorted(status.data_keys_by_kid.items()):
        mark = "*" if kid == status.current_kid else " "
        typer.echo(f"{mark} {kid}\t{count} data keys")
    typer.echo(f"destroyed (shredded) data keys: {status.destroyed_data_keys}")


# --- user (accounts) ------------------------------------------------------------------------


@user_app.command("create-admin")
def user_create_admin(
    phone: Annotated[str | None, typer.Option(help="Mainland mobile number of the operator.")] = None,
    email: Annotated[str | None, typer.Option(help="E-mail address of the operator.")] = None,
    password: Annotated[str | None, typer.Option(help="Password (prompted when omitted).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create an operator account with a phone number or an e-mail address."""
    from qianshu.accounts import service as accounts_service

    if bool(phone) == bool(email):
        _fail("请只提供 --phone 或 --email 其中一项 / give exactly one of --phone or --email")
    if password is None:
        password = typer.prompt("密码 / password", hide_input=True, confirmation_prompt=True)
    runtime = _runtime(data_dir)
    with runtime.transaction() as session:
        user = accounts_service.create_operator(
            session=session, clock=runtime.clock, phone=phone, email=email, password=password
        )
    typer.echo(f"已创建运营账号 / operator created: {user.id}")


@user_app.command("unlock")
def user_unlock(
    login: Annotated[str, typer.Argument(help="The phone number or e-mail address that is locked.")],
    data_dir: DataDir = None,
) -> None:
    """Lift a login lock before it runs out."""
    from qianshu.accounts import service as accounts_service

    runtime = _runtime(data_dir)
    with runtime.transaction() as session:
        accounts_service.unlock_login(session=session, login=login)
    typer.echo("已解除锁定 / unlocked")


# --- ca (pki) -------------------------------------------------------------------------------

_CA_EXPORTS = ("root", "issuing", "tsa", "ocsp", "chain", "root-crl", "issuing-crl")


def _print_ca(data_dir: Path | None) -> None:
    from qianshu.pki import service as pki_service

    runtime = _runtime(data_dir)
    with runtime.transaction() as session:
        certs = [pki_service.ca_certificate(session=session, kind=k) for k in _CA_EXPORTS[:4]]
    for c in certs:
        until = c.not_after.strftime("%Y-%m-%d")
        typer.echo(f"{c.kind:8} {c.id}  {c.key_algorithm:10}  until {until}  sha256={c.fingerprint}")
    typer.echo(f"根证书 / root certificate: {pki_service.urls(runtime.settings).root_cert}")


@ca_app.command("init")
def ca_init(data_dir: DataDir = None) -> None:
    """Create the CA hierarchy (root, issuing CA, TSA, OCSP responder) unless it exists; show it."""
    _print_ca(data_dir)


@ca_app.command("show")
def ca_show(data_dir: DataDir = None) -> None:
    """Show the CA certificates and their SHA-256 fingerprints."""
    _print_ca(data_dir)


@ca_app.command("export")
def ca_export(
    out: Annotated[Path, typer.Argument(dir_okay=False, help="File to write.")],
    which: Annotated[str, typer.Option(help="root, issuing, tsa, ocsp, chain, {root,issuing}-crl.")] = "root",
    fmt: Annotated[str, typer.Option("--format", help="pem or der (CRLs are always DER).")] = "pem",
    data_dir: DataDir = None,
) -> None:
    """Write a CA certificate, the chain (PEM) or a CRL (DER) to OUT."""
    from qianshu.pki import service as pki_service

    if which not in _CA_EXPORTS or fmt not in ("pem", "der"):
        _fail("--which 或 --format 无效 / bad --which or --format")
    runtime = _runtime(data_dir)
    with runtime.transaction() as session:
        if which.endswith("-crl"):
            data = pki_service.crl_der(session=session, clock=runtime.clock, which=which.removesuffix("-crl"))
        elif which == "chain":
            data = "".join(pki_service.pem(der) for der in pki_service.ca_chain(session=session)).encode()
        else:
            der = pki_service.ca_certificate(session=session, kind=which).der
            data = der if fmt == "der" else pki_service.pem(der).encode()
    out.write_bytes(data)
    typer.echo(f"已写入 / wrote {out}")


@ca_app.command("revoke")
def ca_revoke(
    cert_id: Annotated[str, typer.Argument(help="Certificate id (crt_…).")],
    reason: Annotated[str, typer.Option(help="RFC 5280 reason, e.g. key_compromise.")] = "unspecified",
    data_dir: DataDir = None,
) -> None:
    """Revoke a certificate as an operator; the CRL is re-signed at once."""
    from qianshu.pki import service as pki_service

    runtime = _runtime(data_dir)
    with runtime.transaction() as session:
        cert = pki_service.revoke_certificate(
            session=session, clock=runtime.clock, cert_id=cert_id, actor="cli", reason=reason, operator=True
        )
    typer.echo(f"已吊销 / revoked {cert.id} serial={cert.serial} reason={cert.revocation_reason}")


# --- signing: demo, validate ----------------------------------------------------------------


@app.command()
def demo(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Output folder: signed.pdf, root.pem, tsa.pem, validation.json, evidence-bundle.zip, log.key.",
        ),
    ],
    data_dir: DataDir = None,
) -> None:
    """Two demo signers (张三, 示例科技有限公司) sign a Chinese contract; complete it to PAdES B-LTA.

    The signed contract is then preserved (time-stamped and logged) and its evidence bundle written.
    """
    import shlex

    from qianshu.signing.demo import run_demo
    from qianshu.signing.summary import describe_report

    runtime = _runtime(data_dir or out / "data")
    try:
        result = run_demo(runtime=runtime, out_dir=out)
    finally:
        runtime.close()
    typer.echo("\n".join(describe_report(result.report)))
    for path in (
        result.signed_pdf,
        result.root_pem,
        result.tsa_pem,
        result.validation_json,
        result.seal_png,
        result.bundle_zip,
        result.log_key,
    ):
        typer.echo(f"已写入 / wrote {path}")
    command = shlex.join(
        ["qianshu", "verify", str(result.bundle_zip), "--root", str(result.root_pem), "--log-key", str(result.log_key)]
    )
    typer.echo(
        f"证据包（存证 {result.preservation_id}）可离线核验，只需根证书和日志公钥 / "
        f"verify the evidence bundle offline, trusting only the root certificate and the log key:\n  {command}"
    )
    base = runtime.settings.public_base_url
    typer.echo(
        f"外部验证器（如 pdfsig）会向证书中的 OCSP 地址 {base}/pki/ocsp 查询吊销状态：请先用同一数据目录运行 "
        f"`qianshu serve`。\nOutside validators such as pdfsig ask the OCSP responder named in the certificates "
        f"({base}/pki/ocsp): run `qianshu serve` on the same data directory while they check."
    )
    if not result.report.ok:
        _fail("演示文档验证未通过 / the demo document did not validate")


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The signed PDF.")],
    trust: Annotated[
        list[Path] | None,
        typer.Option("--trust", help="Trust anchor (PEM or DER), repeatable; default: this instance's root."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Validate every signature in FILE; exit 1 when any fails (or there is none)."""
    import logging

    from qianshu.core.logging import configure_logging
    from qianshu.signing import service as signing_service
    from qianshu.signing.summary import describe_report

    configure_logging("WARNING")
    for name in ("pyhanko", "pyhanko_certvalidator"):  # their warnings repeat what the report says
        logging.getLogger(name).setLevel(logging.ERROR)
    if trust:
        roots = [der for path in trust for der in signing_service.read_trust_roots(path)]
    else:
        runtime = _runtime(data_dir)
        try:
            roots = signing_service.trust_roots(runtime=runtime)
        finally:
            runtime.close()
    report = signing_service.validate_pdf(file.read_bytes(), trust_roots=roots)
    typer.echo(report.model_dump_json(indent=2) if as_json else "\n".join(describe_report(report)))
    if not report.ok:
        raise typer.Exit(1)


# --- audit (evidence) -----------------------------------------------------------------------


@audit_app.command("verify")
def audit_verify(
    data_dir: DataDir = None,
    stream: Annotated[str | None, typer.Option(help="Check one stream only (e.g. user:usr_…).")] = None,
) -> None:
    """Recompute every audit hash chain; report the first broken link of each and exit 1."""
    from qianshu.evidence import service as evidence_service

    runtime = _runtime(data_dir)
    with runtime.transaction() as session:
        report = evidence_service.verify_chains(session=session, stream=stream)
    if not report.ok:
        for broken in report.breaks:
            typer.echo(f"BROKEN {broken.describe()}", err=True)
        _fail(f"审计链已损坏 / audit chain broken: {len(report.breaks)} of {report.streams} streams")
    typer.echo(f"审计链完好 / audit chains intact: {report.streams} streams, {report.events} events")


@audit_app.command("purge-network-logs")
def audit_purge_network_logs(data_dir: DataDir = None) -> None:
    """Delete network logs (IP, user agent) older than QIANSHU_NETWORK_LOG_RETENTION_DAYS."""
    from qianshu.evidence import service as evidence_service

    runtime = _runtime(data_dir)
    with runtime.transaction() as session:
        count = evidence_service.purge_network_logs(session=session, clock=runtime.clock)
    typer.echo(f"已删除 {count} 条网络日志 / purged {count} network logs")


# --- verify (evidence bundles, offline) ------------------------------------------------------


BundleArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The evidence bundle (ZIP).")]
RootOpt = Annotated[Path, typer.Option("--root", exists=True, dir_okay=False, help="Root certificate.")]
LogKeyOpt = Annotated[str, typer.Option("--log-key", help="Log key (name+id+key), or a file holding it.")]


@app.command("verify")
def verify_bundle_command(bundle: BundleArg, root: RootOpt, log_key: LogKeyOpt) -> None:
    """Verify an evidence bundle offline, trusting only the root certificate and the log key."""
    from qianshu.core.errors import VerificationFailed
    from qianshu.evidence.verifier import StepResult, verify_bundle

    key = Path(log_key).read_text(encoding="utf-8") if Path(log_key).is_file() else log_key

    def show(result: StepResult) -> None:
        typer.echo(f"✓ {result.step} {result.step.title_zh} / {result.step.title}")
        for line in result.details:
            typer.echo(f"    {line}")

    try:
        report = verify_bundle(bundle, root=root.read_bytes(), log_key=key, progress=show)
    except VerificationFailed as exc:
        typer.echo(f"✗ {exc.step}: {exc.reason}", err=True)
        _fail(f"核验未通过 / verification FAILED at step {exc.step}")
    typer.echo(f"核验通过 / verified: {report.subject_kind} {report.subject_id}")


privacy_app = typer.Typer(help="Privacy policy versions and the consent ledger.")
app.add_typer(privacy_app, name="privacy")


@privacy_app.command("publish")
def privacy_publish(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Policy text (Markdown, UTF-8).")],
    version: Annotated[str, typer.Option(help="Version label, e.g. 2.0.")],
    major: Annotated[bool, typer.Option("--major/--minor", help="Major: everyone must accept it again.")],
    summary: Annotated[str | None, typer.Option(help="What changed, shown to users.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Publish a new privacy-policy version from FILE ({{operator_name}}-style placeholders filled)."""
    from qianshu.privacy import service as privacy_service

    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        _fail("文件不是 UTF-8 文本 / the file is not UTF-8 text")
    runtime = _runtime(data_dir)
    with runtime.transaction() as session:
        policy = privacy_service.publish_policy(
            session=session,
            clock=runtime.clock,
            actor="system",
            version=version,
            text=text,
            major=major,
            summary=summary,
        )
    kind = "重大版本 / major" if policy.major else "一般版本 / minor"
    typer.echo(f"已发布隐私政策 {policy.version}（{kind}）/ published {policy.id}")
    typer.echo(f"sha256={policy.text_sha256}")


@privacy_app.command("list")
def privacy_list(data_dir: DataDir = None) -> None:
    """List the published privacy-policy versions, newest first."""
    from qianshu.privacy import service as privacy_service

    runtime = _runtime(data_dir)
    with runtime.transaction() as session:
        policies = privacy_service.list_policies(session=session)
    for policy in policies:
        kind = "major" if policy.major else "minor"
        typer.echo(f"{policy.version}\t{kind}\t{policy.published_at.isoformat()}\t{policy.id}\t{policy.text_sha256}")


# --- privacy centre and compliance operations (privacy) -------------------------------------

calendar_app = typer.Typer(help="Working-day calendar: holidays and make-up working days (调休).")
staff_app = typer.Typer(help="Operator sub-roles (least privilege).")
privacy_app.add_typer(calendar_app, name="calendar")
privacy_app.add_typer(staff_app, name="staff")
retention_key_app = typer.Typer(help="The retention key pair: the platform keeps the public key, you the private.")
privacy_app.add_typer(retention_key_app, name="retention-key")


@calendar_app.command("list")
def privacy_calendar_list(
    year: Annotated[int, typer.Option(help="Year, e.g. 2026.")], data_dir: DataDir = None
) -> None:
    """List a year's holidays and make-up working days, and where each comes from."""
    from qianshu.privacy import holidays

    runtime = _runtime(data_dir)
    with runtime.transaction() as session:
        days = holidays.list_special_days(session=session, year=year)
    status = holidays.bundled_years().get(year, "none")
    typer.echo(f"{year}: bundled data {status}")
    for d in days:
        typer.echo(f"{d.day.isoformat()}\t{d.kind}\t{d.source}\t{d.name}")


@calendar_app.command("set")
def privacy_calendar_set(
    day: Annotated[str, typer.Argument(help="Date, YYYY-MM-DD.")],
    kind: Annotated[str, typer.Option(help="holiday, workday (调休上班) or normal.")],
    name: Annotated[str, typer.Option(help="Name, e.g. 春节 or 春节调休上班.")],
    data_dir: DataDir = None,
) -> None:
    """Mark a day as holiday, make-up working day or ordinary day (overrides the bundled data)."""
    from datetime import date

    from qianshu.privacy import holidays

    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        _fail("日期格式应为 YYYY-MM-DD / the date must be YYYY-MM-DD")
    runtime = _runtime(data_dir)
    with runtime.transaction() as session:
        info = holidays.set_calendar_day(
            session=session, clock=runtime.clock, actor="cli", day=parsed, kind=kind, name=name
        )
    typer.echo(f"{info.day.isoformat()}\t{info.kind}\t{'working' if info.working else 'rest'}\t{info.name}")


@calendar_app.command("remove")
def privacy_calendar_remove(
    day: Annotated[str, typer.Argument(help="Date, YYYY-MM-DD.")], data_dir: DataDir = None
) -> None:
    """Remove an operator entry so the bundled data applies again."""
    from datetime import date

    from qianshu.privacy import holidays

    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        _fail("日期格式应为 YYYY-MM-DD / the date must be YYYY-MM-DD")
    runtime = _runtime(data_dir)
    with runtime.transaction() as session:
        holidays.remove_calendar_day(session=session, clock=runtime.clock, actor="cli", day=parsed)
    typer.echo(f"已删除 / removed {parsed.isoformat()}")


@staff_app.command("grant")
def privacy_staff_grant(
    user_id: Annotated[str, typer.Argument(help="Operator user id (usr_…).")],
    role: Annotated[str, typer.Argument(help="support, reviewer, privacy_officer or security.")],
    data_dir: DataDir = None,
) -> None:
    """Give an operator a sub-role."""
    from qianshu.privacy import staff

    runtime = _runtime(data_dir)
    with runtime.transaction() as session:
        staff.grant_role(session=session, clock=runtime.clock, actor="cli", user_id=user_id, role=role)
    typer.echo(f"已授予 / granted {role} to {user_id}")


@staff_app.command("revoke")
def privacy_staff_revoke(
    user_id: Annotated[str, typer.Argument(help="Operator user id (usr_…).")],
    role: Annotated[str, typer.Argument(help="The sub-role to take away.")],
    data_dir: DataDir = None,
) -> None:
    """Take a sub-role away from an operator."""
    from qianshu.privacy import staff

    runtime = _runtime(data_dir)
    with runtime.transaction() as session:
        staff.revoke_role(session=session, clock=runtime.clock, actor="cli", user_id=user_id, role=role)
    typer.echo(f"已收回 / revoked {role} from {user_id}")


@staff_app.command("list")
def privacy_staff_list(data_dir: DataDir = None) -> None:
    """List operator sub-roles."""
    from qianshu.privacy import staff

    runtime = _runtime(data_dir)
    with runtime.transaction() as session:
        for row in staff.list_roles(session=session):
            typer.echo(f"{row.user_id}\t{row.role}\t{row.granted_at.isoformat()}\t{row.granted_by}")


@privacy_app.command("sweep")
def privacy_sweep(data_dir: DataDir = None) -> None:
    """Apply retention periods now: release ended holds, anonymise old requests, expire data copies."""
    from qianshu.privacy import cancellation, retention

    runtime = _runtime(data_dir)
    with runtime.transaction() as session:
        closed = cancellation.run_due(session=session, clock=runtime.clock)
        result = retention.run_sweep(session=session, clock=runtime.clock)
    typer.echo(f"cancellations_executed\t{closed}")
    for key, value in result.items():
        typer.echo(f"{key}\t{value}")


@privacy_app.command("scan-deadlines")
def privacy_scan_deadlines(data_dir: DataDir = None) -> None:
    """List requests near or past their deadline and alert privacy officers."""
    from qianshu.privacy import requests

    runtime = _runtime(data_dir)
    with runtime.transaction() as session:
        scan = requests.scan_deadlines(session=session, clock=runtime.clock)
    typer.echo(f"today {scan.today.isoformat()}: overdue {len(scan.overdue)}, near due {len(scan.near_due)}")
    for request_id in scan.overdue:
        typer.echo(f"OVERDUE\t{request_id}")
    for request_id in scan.near_due:
        typer.echo(f"NEAR_DUE\t{request_id}")


@privacy_app.command("retention-open")
def privacy_retention_open(
    user_id: Annotated[str, typer.Argument(help="The cancelled person's user id.")],
    key: Annotated[
        Path, typer.Option("--key", exists=True, dir_okay=False, help="The offline retention private key (PEM).")
    ],
    reference: Annotated[str, typer.Option(help="The lawful order's reference (recorded).")],
    data_dir: DataDir = None,
) -> None:
    """Open records kept under legal retention, for a lawful order (needs the offline private key)."""
    from qianshu.evidence import service as evidence_service
    from qianshu.privacy import retention

    runtime = _runtime(data_dir)
    with runtime.transaction() as session:
        opened = retention.open_retained_records(session=session, user_id=user_id, private_key=key.read_bytes())
        evidence_service.record_event(
            session=session,
            clock=runtime.clock,
            stream=f"user:{user_id}",
            actor="cli",
            action="privacy.retained_records_opened",
            data={"reference": reference[:120], "sources": sorted(opened)},
        )
    typer.echo(json.dumps(opened, ensure_ascii=False, indent=2))


_KEY_OUT = Annotated[
    Path | None,
    typer.Option("--out", dir_okay=False, help="Offline file for the private key (written once, mode 0600)."),
]
_KEY_PRINT = Annotated[bool, typer.Option("--print", help="Print the private key once instead of writing a file.")]


def _hand_key(kid: str, pem: bytes, out: Path | None) -> None:
    if out is None:
        typer.echo(pem.decode("ascii"), nl=False)
        typer.echo(f"以上私钥只显示这一次，平台不保存 / shown once, not kept by the platform (kid {kid})", err=True)
    else:
        typer.echo(f"已写入 / wrote {out} (kid {kid}); 平台只保留公钥 / the platform keeps the public key only")


@retention_key_app.command("init")
def retention_key_init(
    out: _KEY_OUT = None,
    print_key: _KEY_PRINT = False,
    replace: Annotated[bool, typer.Option("--replace", help="Replace an existing key pair.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Make the retention key pair; hand the private key over once (--out FILE or --print)."""
    from qianshu.privacy import retention

    if (out is None) == (not print_key):
        _fail("请指定 --out FILE 或 --print 之一 / give exactly one of --out FILE or --print")
    runtime = _runtime(data_dir)
    try:
        kid, pem = retention.create_retention_key(runtime=runtime, out=out, replace=replace)
    except QianshuError as exc:
        _fail(f"错误 / error: {exc.detail} ({exc.detail_en})")
    _hand_key(kid, pem, out)


@retention_key_app.command("hand-over")
def retention_key_hand_over(out: _KEY_OUT = None, print_key: _KEY_PRINT = False, data_dir: DataDir = None) -> None:
    """Move a private key an older version left on the platform to the operator, then erase it."""
    from qianshu.privacy import retention

    if (out is None) == (not print_key):
        _fail("请指定 --out FILE 或 --print 之一 / give exactly one of --out FILE or --print")
    runtime = _runtime(data_dir)
    try:
        kid, pem = retention.hand_over_platform_key(runtime=runtime, out=out)
    except QianshuError as exc:
        _fail(f"错误 / error: {exc.detail} ({exc.detail_en})")
    _hand_key(kid, pem, out)


@retention_key_app.command("status")
def retention_key_status(data_dir: DataDir = None) -> None:
    """Tell whether the retention public key is set up and that no private key is on the platform."""
    from qianshu.vault import service as vault_service

    runtime = _runtime(data_dir)
    status = vault_service.retention_key_status(runtime=runtime)
    typer.echo(f"kid\t{status.kid or '-'}")
    typer.echo(f"private_key_on_platform\t{'yes' if status.private_key_on_platform else 'no'}")
    if status.kid is None or status.private_key_on_platform:
        _fail("留存密钥未就绪 / the retention key is not ready (see docs/privacy.md)")


@privacy_app.command("incident-report")
def privacy_incident_report(
    incident_id: Annotated[str, typer.Argument(help="Incident id (inc_…).")],
    out: Annotated[Path, typer.Option("--out", dir_okay=False, help="File to write (JSON).")],
    data_dir: DataDir = None,
) -> None:
    """Write the regulator report of an incident and mark it reported."""
    from qianshu.privacy import incidents

    runtime = _runtime(data_dir)
    with runtime.transaction() as session:
        report = incidents.regulator_report(session=session, clock=runtime.clock, actor="cli", incident_id=incident_id)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    typer.echo(f"已写入 / wrote {out}")


@app.command("wind-down")
def wind_down(
    end_date: Annotated[str, typer.Option("--end-date", help="The day the service stops, YYYY-MM-DD.")],
    out: Annotated[Path | None, typer.Option("--out", file_okay=False, help="Folder for the CA records.")] = None,
    purge: Annotated[bool, typer.Option("--purge", help="Close every account now (irreversible).")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm an irreversible --purge.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Stop collecting personal data, tell everyone, and (with --purge) erase it and hand over CA records."""
    from datetime import date

    from qianshu.privacy import winddown

    try:
        end = date.fromisoformat(end_date)
    except ValueError:
        _fail("日期格式应为 YYYY-MM-DD / the date must be YYYY-MM-DD")
    if purge and not yes:
        _fail("--purge 不可恢复，请加 --yes 确认 / --purge cannot be undone; add --yes to confirm")
    runtime = _runtime(data_dir)
    report = winddown.run_wind_down(runtime=runtime, end_date=end, out_dir=out, purge=purge)
    typer.echo(f"已停止收集个人信息 / collection stopped since {report.collection_stopped_since}")
    typer.echo(f"已通知 / announced to {report.announced} accounts (end date {report.end_date})")
    if purge:
        typer.echo(f"已注销 / closed {report.accounts_closed} accounts")
    for name in report.handover_files:
        typer.echo(f"已写入 / wrote {name}")


# --- org (orgs) ------------------------------------------------------------------------------

org_app = typer.Typer(help="Organisations: credit codes and the review queue.")
app.add_typer(org_app, name="org")


@org_app.command("check-uscc")
def org_check_uscc(code: str) -> None:
    """Check a unified social credit code (GB 32100-2015) and print its parts."""
    from qianshu.orgs import service as orgs_service

    info = orgs_service.check_uscc(code)
    typer.echo(
        f"{info.code}\tauthority={info.authority} ({info.authority_label})\t"
        f"category={info.category} ({info.category_label})\tdivision={info.division}\t"
        f"organisation_code={info.organisation_code}"
    )


@org_app.command("reviews")
def org_reviews(data_dir: DataDir = None) -> None:
    """List licences and authorisation letters waiting for operator review (masked)."""
    from qianshu.orgs import service as orgs_service

    runtime = _runtime(data_dir)
    with runtime.transaction() as session:
        items = orgs_service.list_review_queue(session=session)
    for item in items:
        typer.echo(
            f"{item.document_id}\t{item.kind}\t{item.uploaded_at.isoformat()}\t{item.org_id}\t{item.uscc}\t{item.org_name}"
        )


# --- sandbox (notify, identity) -------------------------------------------------------------


@app.command()
def sandbox(
    port: Annotated[int, typer.Option(help="Port of the sandbox provider.")] = 8025,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
) -> None:
    """Run the sandbox SMS provider alone (POST /sandbox/sms; inbox at GET /sandbox/sms/messages)."""
    import uvicorn

    from qianshu.core.logging import configure_logging
    from qianshu.notify.sandbox import create_sandbox_app

    settings = _settings()
    configure_logging("INFO")
    typer.echo(
        f"沙盒短信服务 / SMS sandbox: http://{host}:{port}/sandbox/sms  "
        f"(QIANSHU_SMS_URL=http://{host}:{port}/sandbox/sms)"
    )
    app = create_sandbox_app(settings=settings)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)


identity_app = typer.Typer(help="Real-name verification.")
app.add_typer(identity_app, name="identity")


@identity_app.command("sandbox")
def identity_sandbox(
    port: Annotated[int, typer.Option(help="Port of the sandbox identity provider.")] = 8026,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
) -> None:
    """Run the sandbox identity provider alone (POST /sandbox/identity/v1/elements and /v1/face)."""
    import uvicorn

    from qianshu.core.clock import SystemClock
    from qianshu.core.logging import configure_logging
    from qianshu.identity.sandbox import PREFIX, create_sandbox_app

    settings = _settings()
    configure_logging("INFO")
    url = f"http://{host}:{port}{PREFIX}"
    typer.echo(f"沙箱实名核验服务 / identity sandbox: {url}  (QIANSHU_IDENTITY_URL={url})")
    sandbox_app = create_sandbox_app(
        secret=settings.identity_hmac_secret.get_secret_value().encode(),
        clock=SystemClock(),
        delay_seconds=settings.identity_sandbox_delay_seconds,
    )
    uvicorn.run(sandbox_app, host=host, port=port, log_config=None, access_log=False)


@identity_app.command("status")
def identity_status(
    user_id: Annotated[str, typer.Argument(help="The person's user id (usr_…).")],
    data_dir: DataDir = None,
) -> None:
    """Show a person's verified level, certificate and open verification (no personal data)."""
    from qianshu.identity import service as identity_service

    runtime = _runtime(data_dir)
    with runtime.transaction() as session:
        identity = identity_service.get_identity(session=session, user_id=user_id)
        history = identity_service.list_verifications(session=session, user_id=user_id, limit=5)
    if identity is None:
        typer.echo("未完成实名认证 / not verified")
    else:
        typer.echo(
            f"{identity.level}\t{identity.doc_type}\t{identity.verified_at.isoformat()}\t"
            f"certificate={identity.certificate_id or '-'}"
        )
    for v in history:
        typer.echo(f"{v.id}\t{v.level}\t{v.status}\t{v.failure_reason or ''}\t{v.created_at.isoformat()}")


def main() -> None:
    """Entry point: run the CLI, turning library errors into a message and exit code 1."""
    try:
        app()
    except QianshuError as exc:
        typer.echo(f"错误 / error: {exc.detail} ({exc.detail_en})", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
