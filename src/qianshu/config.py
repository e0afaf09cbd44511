"""Settings: every `QIANSHU_*` environment variable, read in one place."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


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
    default_locale: str = "zh-CN"
    sandbox: bool = True  # mount the sandbox providers (SMS, identity, bank) on this server
    demo: bool = True  # create the demo operator account on first start
    max_upload_bytes: int = 50 * 1024 * 1024
    max_json_bytes: int = 1024 * 1024
    min_age: int = 18
    guardian_path: bool = False

    # --- one-time codes and login protection ---
    otp_ttl_seconds: int = 300
    otp_max_attempts: int = 5
    otp_resend_seconds: int = 60
    login_max_failures: int = 5
    login_lock_minutes: int = 15
    ip_max_failures_per_hour: int = 50

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

    # --- background jobs ---
    jobs_backend: str = "database"  # database | dramatiq
    worker_in_process: bool = True
    job_max_attempts: int = 8

    # --- retention ---
    network_log_retention_days: int = 183
    signing_record_retention_years: int = 5

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
        self.public_base_url = self.public_base_url.rstrip("/")
        if self.cookie_secure is None:
            self.cookie_secure = self.public_base_url.startswith("https://")
        return self

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


class _SettingsFileSource(PydanticBaseSettingsSource):
    """Read an optional TOML settings file named by QIANSHU_SETTINGS_FILE."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        import os
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
