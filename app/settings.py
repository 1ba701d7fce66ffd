from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """The one configuration object; each field is an environment variable (see README)."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    environment: Literal["development", "production"] = "development"
    database_url: str | None = None
    redis_url: str | None = None
    tracker_data_dir: Path = Path("data")
    admin_api_key: SecretStr | None = None
    public_url: str = "http://127.0.0.1:8000"
    db_pool_min: int = Field(default=2, ge=1)
    db_pool_max: int = Field(default=10, ge=1)
    migrate_on_start: bool = True
    log_level: str = "info"

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

    def require_urls(self) -> tuple[str, str]:
        """The server URLs, which every process but `tracker dev` needs set."""
        if not self.database_url or not self.redis_url:
            raise RuntimeError(
                "DATABASE_URL and REDIS_URL must be set (or use `tracker dev`, "
                "which starts embedded servers)"
            )
        return self.database_url, self.redis_url
