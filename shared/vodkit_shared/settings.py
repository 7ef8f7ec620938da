"""Settings common to every service, read once at start from `VODKIT_*` variables.

Any setting can also come from a file: with `VODKIT_SECRETS_DIR=/etc/vodkit/secrets`, the file
`vodkit_auth_secret` (the variable's name, any case) in that directory gives `VODKIT_AUTH_SECRET`, as a
mounted Kubernetes Secret lays its keys out. A variable that is set wins over a file.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)

from vodkit_shared.content_keys import new_master_key

SECRETS_DIR = "VODKIT_SECRETS_DIR"


class CommonSettings(BaseSettings):
    """What every service needs: where its adapters live and how it retries."""

    model_config = SettingsConfigDict(env_prefix="VODKIT_", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Home of the embedded defaults (files, SQLite, secret).")
    bus_url: str = Field("memory://", description="`memory://` or `amqp://user:pass@host:port/vhost`.")
    bus_exchange: str = Field("vodkit", description="RabbitMQ topic exchange; also prefixes queue names.")
    storage_url: str = Field("", description="`file:///dir` or `http(s)://key:secret@host:port/bucket`.")
    db_url: str = Field("", description="`sqlite:///file.db` or `mongodb://host:port/db`.")
    auth_secret: SecretStr | None = Field(None, description="HS256 secret for user tokens.")
    content_key: SecretStr | None = Field(
        None,
        description="Master key sealing encrypted videos' AES keys: 32 or more random characters (gateway, packager).",
    )
    host: str = Field("127.0.0.1", description="Address the service's HTTP server binds.")
    port: int = Field(0, description="Port of the service's HTTP server (0: any free port).")
    log_level: str = Field("INFO", description="Python logging level.")
    log_dir: Path | None = Field(None, description="Also write error.log and combined.log (JSON lines) here.")
    log_file_max_bytes: int = Field(5 * 1024 * 1024, ge=1024, description="A log file is rotated at this size.")
    log_file_count: int = Field(5, ge=1, description="Files kept of each log, the one being written included.")
    retry_attempts: int = Field(3, ge=1, description="Deliveries of one event before it is dead-lettered.")
    retry_base_delay_s: float = Field(1.0, ge=0, description="First retry delay; it doubles each time.")
    tier_warm_url: str = Field("", description="Storage URL of the warm tier (its own bucket or endpoint).")
    tier_cold_url: str = Field("", description="Storage URL of the cold tier (its own bucket or endpoint).")
    access_flush_s: float = Field(30, gt=0, description="How often reads are recorded as video accesses.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then variables, then the files of `VODKIT_SECRETS_DIR` (read when settings are made)."""
        directory = os.environ.get(SECRETS_DIR)
        files = (SecretsSettingsSource(settings_cls, secrets_dir=directory),) if directory else ()
        return (init_settings, env_settings, *files)

    @field_validator("log_dir", mode="before")
    @classmethod
    def _no_log_dir_when_empty(cls, value: object) -> object:
        return None if value == "" else value  # `VODKIT_LOG_DIR=` turns file logs off, not on in the working dir

    def resolved_storage_url(self) -> str:
        return self.storage_url or f"file://{(self.data_dir / 'objects').resolve()}"

    def resolved_tier_urls(self) -> dict[str, str] | None:
        """Storage URLs of hot, warm and cold; None when tiering is off.

        Embedded (file storage, no tier URLs): directories beside the objects. Otherwise both
        tier URLs must be set, or neither (S3 storage without tiers: one bucket, no catalogue).
        """
        hot = self.resolved_storage_url()
        if self.tier_warm_url and self.tier_cold_url:
            return {"hot": hot, "warm": self.tier_warm_url, "cold": self.tier_cold_url}
        if self.tier_warm_url or self.tier_cold_url:
            raise ValueError("set both VODKIT_TIER_WARM_URL and VODKIT_TIER_COLD_URL, or neither")
        if not hot.startswith("file://"):
            return None
        tiers = (self.data_dir / "tiers").resolve()
        return {"hot": hot, "warm": f"file://{tiers / 'warm'}", "cold": f"file://{tiers / 'cold'}"}

    def resolved_db_url(self) -> str:
        return self.db_url or f"sqlite:///{(self.data_dir / 'vodkit.db').resolve()}"  # 4 slashes: absolute

    def resolved_auth_secret(self) -> str:
        """The configured secret, or one generated once and kept in the data dir (embedded mode)."""
        if self.auth_secret is not None:
            return self.auth_secret.get_secret_value()
        return self._kept("auth-secret", lambda: secrets.token_urlsafe(48))

    def resolved_content_key(self) -> str:
        """The configured content master key, or one generated once and kept in the data dir (embedded mode)."""
        if self.content_key is not None:
            return self.content_key.get_secret_value()
        return self._kept("content-key", new_master_key)

    def _kept(self, name: str, make: Callable[[], str]) -> str:
        path = self.data_dir / name
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(make())
        return path.read_text().strip()
