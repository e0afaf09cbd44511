"""Settings: every `QIANSHU_*` environment variable, read in one place."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

INTENT_METHODS = ("code", "password", "face")  # ways to confirm the intent to sign (签署意愿, C4)


class SignatureAlgorithm(StrEnum):
    """Key algorithm for CA and end-entity keys."""

    ECDSA_P256 = "ecdsa-p256"
    RSA_3072 = "rsa-3072"


class Settings(BaseSettings):
    """Typed settings with defaults that work for `qianshu serve` on a fresh machine."""

    model_config = SettingsConfigDict(
        env_prefix="QIANSHU_",
        env_file=None,
        extra="ignore",
        toml_file=None,
    )

    # --- where things live ---
    data_dir: Path = Path("./var")
    settings_file: Path | None = None
    database_url: str | None = None  # default: sqlite in data_dir
    # PostgreSQL connections one process keeps open, and as many more in a burst (SQLite: unused).
    # Match the request threads and job threads that work at once (the in-flight limit plus
    # `job_worker_threads`), within the server's max_connections over every process.
    database_pool_size: int = Field(default=16, ge=1, le=200)
    redis_url: str | None = None

    # --- the HTTP service ---
    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str = "http://127.0.0.1:8000"
    cookie_secure: bool | None = None  # default: True when public_base_url is https
    session_days: int = 30
    trusted_proxies: list[str] = Field(default_factory=list)

    # --- product behaviour ---
    site_name: str = "签署 Qianshu"
    operator_name: str = "签署平台运营方"  # who runs this instance; named in the privacy policy
    # The operator's unified social credit code, put in the platform's own signing certificate
    # (preservation certificates, evidence reports). None: a sandbox code when `sandbox`, else refused.
    operator_uscc: str | None = None
    privacy_contact_email: str = "privacy@qianshu.local"  # where people send privacy requests
    default_locale: str = "zh-CN"
    sandbox: bool = True  # mount the sandbox providers (SMS, identity, bank) on this server
    demo: bool = True  # create the demo operator account on first start
    max_upload_bytes: int = 50 * 1024 * 1024
    max_json_bytes: int = 1024 * 1024
    # Requests one process works on at once; more get 503 server-busy with Retry-After (0: no limit).
    # The default matches the 40 threads a process runs blocking routes on: more would only queue.
    max_requests_in_flight: int = 40
    min_age: int = 18
    guardian_path: bool = False

    # --- one-time codes and login protection ---
    otp_ttl_seconds: int = 300
    otp_max_attempts: int = 5
    otp_resend_seconds: int = 60
    login_max_failures: int = 5
    login_lock_minutes: int = 15
    ip_max_failures_per_hour: int = 50
    password_hash_time_cost: int = 3  # argon2id (RFC 9106 §4 second recommended option)
    password_hash_memory_kib: int = 65536
    password_hash_parallelism: int = 4

    # --- messages ---
    email_backend: str = "outbox"  # outbox | smtp
    email_from: str = "noreply@qianshu.local"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    sms_backend: str = "sandbox"  # sandbox | http
    sms_url: str | None = None  # default: <public_base_url>/sandbox/sms
    sms_hmac_secret: SecretStr = SecretStr("sandbox-secret")
    sms_timeout_seconds: float = 5.0
    sms_max_skew_seconds: int = 300  # the SMS sandbox refuses signatures older (or newer) than this
    smtp_timeout_seconds: float = 10.0
    message_retention_days: int = 30  # notify keeps sent messages (encrypted) and outbox files this long

    # --- real-name verification (identity/) ---
    signing_identity_level: Literal["two_elements", "three_elements", "four_elements", "face"] = "three_elements"
    # How a signer confirms the intent to sign (签署意愿, C4) right before the key is used.
    # Any one of, comma-separated: code (a fresh one-time code), password (签署密码), face (人脸核验
    # against the ID record, through the identity provider; for people verified with a resident ID).
    signing_intent_methods: str = "code,password"
    signing_face_checks_per_hour: int = 20  # face checks for signing intent per person per hour
    signing_password_max_failures: int = 5  # wrong signing passwords per person before a lock
    signing_password_lock_minutes: int = 15
    identity_backend: str = "sandbox"  # sandbox | http (both speak the HMAC-signed protocol in docs/identity.md)
    identity_url: str | None = None  # default: <public_base_url>/sandbox/identity
    identity_provider_name: str | None = None  # recipient named in the sharing register (P9)
    identity_hmac_secret: SecretStr = SecretStr("sandbox-secret")
    identity_timeout_seconds: float = 4.0
    identity_retries: int = 1  # extra attempts within one call, after identity_retry_backoff_seconds (doubling)
    identity_retry_backoff_seconds: float = 0.25
    identity_breaker_failures: int = 5  # consecutive failed calls that open the circuit breaker
    identity_breaker_reset_seconds: int = 60
    identity_max_attempts: int = 6  # provider calls per verification before it gives up (then: manual review)
    identity_face_threshold: float = 80.0  # similarity score (0-100) a face check needs
    identity_max_image_bytes: int = 5 * 1024 * 1024
    identity_max_checks_per_day: int = 10  # submissions per person per day (the check is not a lookup service)
    identity_sandbox_delay_seconds: float = 15.0  # how long the sandbox stalls its "time-out" numbers

    # --- background jobs ---
    jobs_backend: str = "database"  # database | dramatiq
    worker_in_process: bool = True
    # Jobs one process runs at a time (PostgreSQL; SQLite runs one): a job mostly waits on a provider
    # (an SMS gateway), so one thread would deliver a message per round trip however idle the CPU.
    job_worker_threads: int = Field(default=4, ge=1, le=32)
    job_max_attempts: int = 8
    broker_url: str | None = None  # dramatiq broker: redis://… or amqp://…; default: redis_url
    dramatiq_queue: str = "qianshu"  # queue name on the broker (one per instance)
    relay_interval_seconds: float = 1.0  # how often `qianshu worker` pushes due job ids to the broker

    # --- contracts: reminders and bulk send (contracts/) ---
    contract_reminder_days: int = Field(default=2, ge=0, le=30)  # remind waiting signers every N days (0: off)
    contract_reminder_before_deadline_hours: int = Field(default=24, ge=0, le=720)  # one more before it (0: off)
    contract_manual_reminder_minutes: int = Field(default=60, ge=1, le=1440)  # "remind now" per recipient
    contract_bulk_max_rows: int = Field(default=500, ge=1, le=10_000)
    contract_bulk_max_bytes: int = Field(default=1024 * 1024, ge=1024)
    contract_bulk_batch_rows: int = Field(default=20, ge=1, le=500)  # rows per job run (progress step)

    # --- operations (ops/) ---
    metrics_token: SecretStr | None = None  # bearer token for /metrics; None: operators only
    backup_passphrase: SecretStr | None = None  # encrypts `qianshu backup` files (scrypt + AES-256-GCM)

    # --- retention ---
    network_log_retention_days: int = 183
    signing_record_retention_years: int = 5
    otp_code_retention_days: int = 30  # used/expired one-time-code rows (hashes only) kept this long after expiry
    session_retention_days: int = 184  # ended sign-in sessions (login records): never under 184 days (six months)
    login_throttle_retention_hours: int = 24  # login-failure counters kept this long after their window and lock

    # --- privacy centre and compliance operations (privacy/) ---
    privacy_request_working_days: int = 15  # answer deadline, in Chinese working days (P6)
    privacy_request_warn_working_days: int = 3  # flag requests this many working days before the deadline
    cancellation_cooling_off_days: int = 7  # a cancellation can be withdrawn until this has passed (P7)
    privacy_export_link_hours: int = 72  # how long a data copy can be downloaded (P4)
    privacy_closed_request_retention_days: int = 3 * 365  # closed requests kept as proof of answering
    statistics_min_group_size: int = 10  # k-anonymity threshold of published statistics (P14)
    retention_key_dir: Path | None = None  # public retention key; default <secrets>/vault/retention

    # --- blob store (storage/): contracts and evidence files, encrypted by Qianshu per file ---
    blob_backend: str = "local"  # local (files under data_dir/blobs) | s3
    s3_bucket: str = "qianshu"
    s3_prefix: str = "blobs/"  # object key prefix inside the bucket
    s3_endpoint_url: str | None = None  # None: AWS; set for MinIO, Ceph and other S3-compatible stores
    s3_region: str | None = None
    s3_access_key_id: str | None = None  # None: boto3's default credential chain
    s3_secret_access_key: SecretStr | None = None

    # --- trust core ---
    key_algorithm: SignatureAlgorithm = SignatureAlgorithm.ECDSA_P256
    custody_backend: str = "file"  # file | pkcs11
    pkcs11_module: str = "/usr/lib/softhsm/libsofthsm2.so"
    pkcs11_token_label: str = "qianshu"
    pkcs11_pin: SecretStr | None = None
    cert_validity_days: int = 365
    tsa_url: str | None = None  # None: the in-process TSA
    tsa_policy_oid: str = "1.3.6.1.4.1.61464.1.2.1"
    crl_validity_hours: int = 24
    extra_trust_roots: list[Path] = Field(default_factory=list)
    cjk_font_ttc: Path = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
    cjk_font_ttc_index: int = 2
    reportlab_cjk_font: Path = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")

    # --- transparency log (evidence/translog.py) ---
    log_origin: str = "qianshu.local/log"  # checkpoint origin line and note key name (C2SP tlog-checkpoint)
    log_batch_max: int = 1000  # entries sequenced per batch (one checkpoint each)
    log_lease_seconds: int = 30  # sequencer lease; another process takes over after it lapses

    # --- organisations (orgs/): enterprise verification, members, seals ---
    bank_backend: str = "sandbox"  # sandbox | http | none (micro-deposit checks of corporate accounts)
    bank_url: str | None = None  # default: <public_base_url>/sandbox/bank
    bank_hmac_secret: SecretStr = SecretStr("sandbox-bank-secret")
    bank_provider_name: str = "签署沙盒银行 (Qianshu sandbox bank)"  # named in the sharing register
    bank_timeout_seconds: float = 5.0
    bank_signature_max_skew_seconds: int = 300
    micro_deposit_max_cents: int = 99  # random amount from 0.01 up to this many cents
    micro_deposit_max_attempts: int = 3
    micro_deposit_ttl_hours: int = 48
    micro_deposit_starts_per_day: int = 3
    org_document_max_bytes: int = 5 * 1024 * 1024  # business licence / authorisation letter image
    seal_upload_max_bytes: int = 1024 * 1024
    org_invitation_days: int = 7
    legal_rep_confirmation_days: int = 7
    seal_font: Path = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
    seal_font_index: int = 0

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read init kwargs, then the environment, then the optional settings file."""
        return (init_settings, env_settings, _SettingsFileSource(settings_cls))

    @model_validator(mode="after")
    def _derive(self) -> Settings:
        if "public_base_url" not in self.model_fields_set:
            host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host  # noqa: S104  # a bind address
            self.public_base_url = f"http://{host}:{self.port}"
        self.public_base_url = self.public_base_url.rstrip("/")
        methods = {m.strip() for m in self.signing_intent_methods.split(",") if m.strip()}
        if not methods or not methods <= set(INTENT_METHODS):
            raise ValueError("signing_intent_methods: a comma-separated subset of " + ", ".join(INTENT_METHODS))
        if self.cookie_secure is None:
            self.cookie_secure = self.public_base_url.startswith("https://")
        return self

    @property
    def intent_methods(self) -> tuple[str, ...]:
        """The allowed ways to confirm the intent to sign, in a stable order (code first)."""
        chosen = {m.strip() for m in self.signing_intent_methods.split(",")}
        return tuple(m for m in INTENT_METHODS if m in chosen)

    @property
    def is_loopback(self) -> bool:
        """Tell whether the public URL is on this machine only (the out-of-the-box setup)."""
        from urllib.parse import urlsplit

        host = urlsplit(self.public_base_url).hostname or ""
        return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")

    def unsafe_defaults(self) -> list[str]:
        """Name the demo conveniences left on by default on a server others can reach.

        The sandbox shows every text message (one-time codes included) to anyone, and demo mode
        creates an operator with a printed password: fine on 127.0.0.1, never on a public URL unless
        the operator turned them on explicitly.
        """
        if self.is_loopback:
            return []
        return [name for name in ("sandbox", "demo") if getattr(self, name) and name not in self.model_fields_set]

    @property
    def secrets_dir(self) -> Path:
        """Folder of generated secrets (mode 0700, files 0600)."""
        return self.data_dir / "secrets"

    @property
    def blobs_dir(self) -> Path:
        """Folder of encrypted blobs."""
        return self.data_dir / "blobs"

    @property
    def outbox_dir(self) -> Path:
        """Folder where the outbox e-mail backend writes messages."""
        return self.data_dir / "outbox"

    @property
    def effective_database_url(self) -> str:
        """Return the database URL, defaulting to SQLite in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'qianshu.db').resolve()}"

    @property
    def effective_sms_url(self) -> str:
        """Return the SMS provider URL, defaulting to the mounted sandbox."""
        return (self.sms_url or f"{self.public_base_url}/sandbox/sms").rstrip("/")

    @property
    def effective_identity_url(self) -> str:
        """Return the identity provider URL, defaulting to the mounted sandbox."""
        return (self.identity_url or f"{self.public_base_url}/sandbox/identity").rstrip("/")

    @property
    def effective_bank_url(self) -> str:
        """Return the bank provider URL, defaulting to the mounted sandbox bank."""
        return (self.bank_url or f"{self.public_base_url}/sandbox/bank").rstrip("/")


class _SettingsFileSource(PydanticBaseSettingsSource):
    """Read an optional TOML settings file named by QIANSHU_SETTINGS_FILE."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        import tomllib

        path = os.environ.get("QIANSHU_SETTINGS_FILE")
        if not path:
            return {}
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        return {k: v for k, v in data.items() if k in self.settings_cls.model_fields}


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, the settings file and explicit overrides."""
    return Settings(**overrides)


def export_settings(settings: Settings, *names: str) -> None:
    """Put these settings into the environment, so a process spawned from here loads the same values."""
    for name in names:
        os.environ[f"QIANSHU_{name.upper()}"] = str(getattr(settings, name))
