"""One typed settings object read from the environment (and an optional .env).

Plain variable names, no prefix, so an operator can read a deployment at a glance.
Defaults are the embedded ones used by `make demo`; secrets default to empty, which
switches their feature off.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = ".somo-data"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # Where the embedded defaults keep their files (SQLite database, local state).
    somo_data_dir: Path = Path(DEFAULT_DATA_DIR)
    somo_env: str = "development"  # development | production
    database_url: str = ""  # empty: SQLite file in SOMO_DATA_DIR
    redis_url: str = ""  # empty: in-process state, locks and jobs
    qdrant_url: str = ""  # empty: qdrant-client's in-process mode
    qdrant_api_key: SecretStr = SecretStr("")

    openai_api_key: SecretStr = SecretStr("")
    openai_base_url: str = "https://api.openai.com/v1"
    openai_model: str = "gpt-4o-mini"
    openai_embedding_model: str = ""  # empty: BM25 sparse retrieval only
    openai_timeout_s: float = 8.0
    llm_price_in_per_1k: float = 0.00015  # USD per 1,000 prompt tokens
    llm_price_out_per_1k: float = 0.0006  # USD per 1,000 completion tokens

    public_base_url: str = "http://127.0.0.1:8000"
    secret_key: SecretStr = SecretStr("")

    at_username: str = "sandbox"
    at_api_key: SecretStr = SecretStr("")
    at_api_base: str = "https://api.sandbox.africastalking.com"
    at_webhook_token: SecretStr = SecretStr("")
    at_sender_id: str = ""
    at_allowed_ips: str = ""  # comma-separated allow-list; empty = any source

    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr = SecretStr("")
    twilio_api_base: str = "https://api.twilio.com"
    twilio_sms_from: str = ""
    twilio_whatsapp_from: str = ""
    twilio_whatsapp_template_sid: str = ""  # ContentSid used outside the 24-hour window

    whatsapp_access_token: SecretStr = SecretStr("")
    whatsapp_app_secret: SecretStr = SecretStr("")
    whatsapp_verify_token: SecretStr = SecretStr("")
    whatsapp_phone_number_id: str = ""
    whatsapp_api_base: str = "https://graph.facebook.com/v21.0"
    whatsapp_template_name: str = ""  # Meta template used outside the 24-hour window
    whatsapp_template_lang: str = "en"

    # Channel limits and behaviour.
    ussd_screen_limit: int = 160
    ussd_screen_limits: str = "63902:160,63903:182"  # network code:characters
    sms_max_segments: int = 3  # per reply; the rest follows on MORE
    webhook_max_body_bytes: int = 64_000
    send_max_attempts: int = 6
    send_backoff_base_s: float = 2.0
    # A row left `sending` this long (its worker died during the provider call) is reconciled by the sweep. 0 = never.
    send_reconcile_after_s: int = Field(default=900, ge=0)

    # Conversation.
    state_ttl_s: int = 7 * 24 * 3600
    rate_limit_per_minute: int = 30
    default_language: str = "en"
    default_country: str = "KE"

    # Teachers and broadcasts.
    broadcast_confirm_over: int = 20
    send_rate_per_second: float = 10.0
    reminder_inactive_days: int = 3

    # Privacy: message text (and typed answers) older than this is blanked; rows and counts stay. 0 = keep.
    message_retention_days: int = 365

    # Process tuning (see docs/performance.md): the garbage collector of the API and rq worker
    # processes ("off" or "gen0,gen1,gen2"), and the database pool of each process.
    gc_thresholds: str = "10000,20,100"
    db_pool_size: int = Field(default=20, ge=1)
    db_max_overflow: int = Field(default=5, ge=0)
    # Threads per API process running the USSD step and the inbound SMS store (gateway.offload);
    # at most db_pool_size. Few on purpose: the steps share one GIL, so more threads only
    # interleave them (docs/performance.md, round 8).
    webhook_threads: int = Field(default=8, ge=1)
    # Answers on one kept-alive HTTP connection before it is closed (the client reconnects and
    # the least busy API worker accepts it; gateway.connections); 0 (the default): never.
    keepalive_max_requests: int = Field(default=0, ge=0)

    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("public_base_url", "at_api_base", "twilio_api_base", "whatsapp_api_base", "openai_base_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        return v.rstrip("/")

    @field_validator("gc_thresholds")
    @classmethod
    def _gc_thresholds(cls, v: str) -> str:
        from core.gctune import parse

        parse(v)  # raises with what is wrong
        return v

    @property
    def is_production(self) -> bool:
        return self.somo_env == "production"

    @property
    def sqlalchemy_url(self) -> str:
        url = self.database_url or f"sqlite:///{(self.somo_data_dir / 'somo.db').resolve()}"
        return normalise_db_url(url)

    def screen_limit(self, network_code: str | None) -> int:
        for part in self.ussd_screen_limits.split(","):
            code, _, limit = part.partition(":")
            if code.strip() and code.strip() == (network_code or "") and limit.strip().isdigit():
                return int(limit)
        return self.ussd_screen_limit

    def secret_key_value(self) -> str:
        key = self.secret_key.get_secret_value()
        if key:
            return key
        if self.is_production:
            raise RuntimeError("SECRET_KEY must be set in production")
        return "somo-development-secret-key-not-for-production"


def normalise_db_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@lru_cache
def get_settings() -> Settings:
    return Settings()


def settings_with(**overrides) -> Settings:
    return Settings(**overrides)


__all__ = ["Settings", "get_settings", "normalise_db_url", "settings_with", "Field"]
