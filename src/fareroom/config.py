"""Settings: ``FAREROOM_*`` environment variables, with embedded defaults.

Only ``bootstrap`` reads these; nothing else picks an adapter.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_VAR = Path("var")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FAREROOM_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{DEFAULT_VAR}/fareroom.sqlite3",
        description="sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db",
    )
    base_url: str = "http://127.0.0.1:8000"
    secret_key: SecretStr = SecretStr("dev-only-change-me")

    gateway: Literal["sandbox", "stripe"] = "sandbox"
    stripe_secret_key: SecretStr | None = None
    stripe_publishable_key: str | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str | None = Field(
        default=None, description="Override Stripe's API base (a local Stripe-compatible server)"
    )
    # Unset: the installation makes its own once and keeps it in the sandbox's store.
    sandbox_webhook_secret: SecretStr | None = None

    # Platform fee rates (fractions of the amount paid) and the sandbox processing fee.
    fee_rate_service: Decimal = Decimal("0.10")
    fee_rate_goods: Decimal = Decimal("0.04")
    processing_fee_rate: Decimal = Decimal("0.029")
    processing_fee_fixed: int = 30  # minor units
    processing_fee_bearer: Literal["business", "platform"] = "business"

    # Mail: written as .eml files into mail_dir unless an SMTP host is set.
    mail_dir: Path = DEFAULT_VAR / "mail"
    mail_from: str = "Fareroom <no-reply@fareroom.local>"
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False

    # The taxi meter: a party offline longer than this ends the session.
    presence_timeout_seconds: int = Field(default=90, ge=1, le=3600)
    # Live chat: pages send a heartbeat every heartbeat_seconds; a connection silent for
    # offline_after_seconds is taken as gone (its party offline from its last heartbeat).
    heartbeat_seconds: float = Field(default=10, gt=0, le=300)
    offline_after_seconds: float = Field(default=30, gt=0, le=600)
    # How often every open session's live meter is pushed to its parties (and split bills
    # collected); the pages count the seconds in between themselves.
    meter_tick_seconds: float = Field(default=30, gt=0, le=600)
    # The largest WebSocket message a page may send.
    ws_max_message_bytes: int = Field(default=16_384, ge=1024, le=1_048_576)
    # Redis (redis://127.0.0.1:6379/0) carries the hub and presence between processes;
    # without it they live in this process (one `fareroom serve`).
    redis_url: str | None = None
    # A collection still pending this long after it was planned is taken over by the worker.
    reconcile_after_seconds: int = Field(default=60, ge=1)
    log_level: str = "INFO"
