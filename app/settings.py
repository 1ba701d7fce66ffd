from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """The one configuration object; each field is an environment variable (see README)."""

    # No input in errors: a bad SMTP_URL or DATABASE_URL would print its password.
    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, extra="ignore", hide_input_in_errors=True
    )

    environment: Literal["development", "production"] = "development"
    database_url: str | None = None
    redis_url: str | None = None
    tracker_data_dir: Path = Path("data")
    admin_api_key: SecretStr | None = None
    public_url: str = "http://127.0.0.1:8000"
    db_pool_min: int = Field(default=2, ge=1)
    db_pool_max: int = Field(default=10, ge=1)
    # Unset: on in development, off in production (run `tracker migrate` before a deploy).
    migrate_on_start: bool | None = None
    log_level: str = "info"
    # Click pipeline
    stream_shards: int = Field(default=2, ge=1, le=256)
    redis_budget_ms: int = Field(default=50, ge=1, le=10_000)
    enqueue_max_batch: int = Field(default=512, ge=1, le=10_000)
    # Replicas that must hold each group-committed batch (WAIT) before it is acknowledged;
    # a batch they do not confirm within REDIS_WAIT_MS is spooled too. 0: no WAIT.
    redis_wait_replicas: int = Field(default=0, ge=0, le=16)
    redis_wait_ms: int = Field(default=10, ge=1, le=10_000)
    trusted_proxies: list[str] = Field(default_factory=list)
    catalog_poll_ms: int = Field(default=500, ge=50)
    catalog_ttl_s: int = Field(default=60, ge=1)
    worker_batch: int = Field(default=2000, ge=1, le=50_000)
    worker_block_ms: int = Field(default=1000, ge=1)
    worker_reclaim_idle_ms: int = Field(default=30_000, ge=100)
    worker_max_deliveries: int = Field(default=5, ge=1)
    click_cookie: str = "tclid"
    # Keep only the /24 (IPv4) or /48 (IPv6) of visitors' addresses, from the redirect and
    # pixel intake on (app/privacy/anonymize.py).
    ip_anonymize: bool = False
    # Raw clicks are kept this many days (whole day partitions are dropped); 0 keeps all.
    click_retention_days: int = Field(default=400, ge=0)
    # Conversions: postback intake and attribution
    postback_max_body_bytes: int = Field(default=65_536, ge=1024, le=10_000_000)
    postback_signature_max_age_s: int = Field(default=300, ge=1)
    # A conversion whose click is not stored yet is retried with backoff until this long
    # after it arrived, then recorded as unattributed.
    attribution_deadline_s: float = Field(default=86_400.0, ge=0)
    attribution_retry_base_s: float = Field(default=5.0, gt=0)
    attribution_retry_max_s: float = Field(default=900.0, gt=0)
    # Pixels (anyone can fire one): per client address and minute, over which they are
    # dropped at intake (0: no limit); and how long a pixel waits for its click before it
    # is discarded (counted, never stored: forged click IDs must not leave rows).
    pixel_rate_per_minute: int = Field(default=120, ge=0)
    pixel_deadline_s: float = Field(default=3600.0, ge=0)
    # Outbound postbacks (sender)
    sender_concurrency: int = Field(default=50, ge=1, le=1000)
    sender_connect_timeout_s: float = Field(default=5.0, gt=0)
    sender_read_timeout_s: float = Field(default=10.0, gt=0)
    sender_retry_schedule_s: list[int] = Field(
        default_factory=lambda: [60, 300, 1800, 7200, 21600, 43200, 86400]
    )
    # Private networks the sender may reach anyway (on-premise receivers; tests).
    sender_allowed_networks: list[str] = Field(default_factory=list)
    # The AES-256-GCM key of secrets at rest (app/sealing.py): payment details, webhook
    # secrets, CRM integrations' keys. URL-safe base64 of 32 bytes; development makes one
    # under TRACKER_DATA_DIR. PAYMENT_DATA_KEY, its name before, is accepted too.
    data_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("data_key", "payment_data_key")
    )
    # Partners: POST /apply per client address and hour (0: no limit).
    apply_rate_per_hour: int = Field(default=10, ge=0)
    # E-mail (app/mail): smtp://user:pass@host:port (STARTTLS when offered; `?starttls=1`
    # requires it, `?starttls=0` never) or smtps:// (implicit TLS). Unset: mail waits in
    # the outbox (`tracker dev` starts a local catcher instead).
    smtp_url: SecretStr | None = None
    mail_from: str = "Tracker <noreply@localhost>"
    program_name: str = "Affiliate program"
    # The program's postal address, in every message (CAN-SPAM); announcements are
    # refused while it is empty.
    program_address: str = ""
    # Who hears of new applications and disabled webhooks; unset: nobody.
    owner_email: str | None = None
    mail_retry_schedule_s: list[int] = Field(
        default_factory=lambda: [60, 300, 1800, 7200, 21600, 43200, 86400]
    )
    # How long a sender holds the mail it claimed before another may take it.
    mail_lease_s: float = Field(default=300.0, gt=0)
    mail_timeout_s: float = Field(default=30.0, gt=0)
    mail_batch: int = Field(default=20, ge=1, le=500)
    # The folder `tracker dev`'s catcher writes .eml files to (shown at /dev/mail).
    dev_mail_dir: Path | None = None

    # Payouts: the smallest payout in a currency an affiliate's payout_threshold does not
    # list (the program's name and address above also head self-billing statements).
    payout_threshold: Decimal = Field(default=Decimal(50), ge=0, max_digits=18, decimal_places=4)
    # A Unicode TrueType font for statements (default: DejaVu Sans where Debian puts it).
    statement_font: str | None = None
    # Webhooks: an endpoint is disabled after this many failed tries in a row, or once
    # every try has failed for this long (3 days).
    webhook_disable_after_failures: int = Field(default=50, ge=1)
    webhook_disable_after_s: float = Field(default=259200.0, gt=0)

    @model_validator(mode="after")
    def _wait_within_budget(self) -> "Settings":
        # A WAIT the budget cuts short spools the batch as it was sent, not as stored.
        if self.redis_wait_replicas and self.redis_wait_ms >= self.redis_budget_ms:
            raise ValueError("REDIS_WAIT_MS must be below REDIS_BUDGET_MS")
        return self

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("admin_api_key")
    @classmethod
    def _strong_admin_key(cls, value: SecretStr | None) -> SecretStr | None:
        # A short bootstrap key is brute-forceable over the API.
        if value is not None and value.get_secret_value() and len(value.get_secret_value()) < 16:
            raise ValueError("ADMIN_API_KEY must be at least 16 characters")
        return value or None

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        # Refused at start, in every process, rather than at the first mail.
        if value is None or not value.get_secret_value():
            return None
        from app.mail.smtp import parse_url

        parse_url(value.get_secret_value())
        return value

    @property
    def migrates_on_start(self) -> bool:
        if self.migrate_on_start is None:
            return self.environment == "development"
        return self.migrate_on_start

    def require_urls(self) -> tuple[str, str]:
        """The server URLs, which every process but `tracker dev` needs set."""
        if not self.database_url or not self.redis_url:
            raise RuntimeError(
                "DATABASE_URL and REDIS_URL must be set (or use `tracker dev`, "
                "which starts embedded servers)"
            )
        return self.database_url, self.redis_url
