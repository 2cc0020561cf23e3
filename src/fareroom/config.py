"""Settings: ``FAREROOM_*`` environment variables, with embedded defaults.

Only ``bootstrap`` reads these; nothing else picks an adapter.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from fareroom.kit.ratelimit import Limit

DEFAULT_VAR = Path("var")
# A rate limit, written "count/seconds" (FAREROOM_LIMIT_SIGNIN_ACCOUNT=5/900).
RateLimit = Annotated[Limit, NoDecode, BeforeValidator(Limit.parse), PlainSerializer(str)]


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
    # The gateway's rate limit in requests per second (Stripe: about 25 in test mode, 100
    # live). Payment runs pace their charges to just under it, across every worker.
    gateway_rate_limit: float = Field(default=25, gt=0, le=10_000)
    # How often a run asks again for a bill the gateway did not answer (timeouts, 429s),
    # waiting longer each time, before it records the bill as not reached.
    gateway_retries: int = Field(default=6, ge=0, le=20)
    # The sandbox's own rate limit (requests per second, answered 429 above it; 0: none),
    # and faults it makes at random, for reliability tests and benchmarks:
    # "timeout=0.01,rate_limit=0.01,lost_response=0.01" (each a probability per charge).
    sandbox_rate_limit: float = Field(default=0, ge=0, le=10_000)
    sandbox_faults: str = Field(default="", max_length=200,
                                pattern=r"^([a-z_]+=[0-9.]+(,[a-z_]+=[0-9.]+)*)?$")  # fmt: skip

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
    # A client waiting while none of the room's agents is online is told so at once, and
    # made to leave (the hold released) once nobody has been online for this long.
    queue_nobody_seconds: int = Field(default=300, ge=1, le=86_400)
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
    # Jobs: on PostgreSQL they go through the queue named jobs_queue (procrastinate), which
    # every `fareroom serve` and `fareroom worker` of this deployment takes jobs from; on
    # SQLite they run inside `fareroom serve`. A worker runs up to worker_concurrency at once.
    jobs_queue: str = Field(
        default="fareroom", min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.:-]+$"
    )
    worker_concurrency: int = Field(default=4, ge=1, le=64)

    # Rate limits ("count/seconds": at most count in any window of that many seconds). The
    # address is the connecting peer's (behind a proxy, uvicorn's --proxy-headers and
    # --forwarded-allow-ips make it the real one). Failed sign-ins per account (the account
    # then refuses even the right password until the window passes) and per address:
    limit_signin_account: RateLimit = Limit(5, 900)
    limit_signin_address: RateLimit = Limit(20, 900)
    # Chat visits (the contact form) per address, and per room and address; holds placed
    # (card attempts) per room and address.
    limit_visits_address: RateLimit = Limit(10, 60)
    limit_visits_room_address: RateLimit = Limit(5, 60)
    limit_holds_room_address: RateLimit = Limit(5, 600)
    # Messages left while no agent is available (leads) per address; payment requests paid
    # (charges tried) per room and address; sandbox card tokens made per address.
    limit_leads_address: RateLimit = Limit(5, 600)
    limit_request_payments_room_address: RateLimit = Limit(10, 600)
    limit_sandbox_tokens_address: RateLimit = Limit(30, 60)
    # Paid meetings' public registration form: registrations made, and payments tried (card
    # attempts), per address.
    limit_registrations_address: RateLimit = Limit(10, 600)
    limit_registration_payments_address: RateLimit = Limit(10, 600)
    # Chat messages a page (one party of a session) may send; and every frame of a socket
    # (pings included): a page over that is closed (1008).
    limit_chat_messages: RateLimit = Limit(10, 10)
    limit_socket_frames: RateLimit = Limit(60, 10)
    # Meetings: participants in one meeting (a full mesh of browsers: each sends its media
    # to every other), wrong meeting passwords per room and address, joins (tickets asked
    # for on a start page) per room and address, every frame of a
    # meeting's socket (signalling a mesh is bursty), chat messages per participant, and
    # the STUN/TURN servers pages are told (a JSON list of RTCIceServer objects, e.g.
    # [{"urls": "turn:turn.example.com:3478", "username": "u", "credential": "p"}]; none by
    # default: browsers on one network reach each other by their own addresses).
    meeting_max_participants: int = Field(default=8, ge=2, le=8)
    limit_meeting_password: RateLimit = Limit(5, 600)
    limit_meeting_joins_room_address: RateLimit = Limit(30, 60)
    limit_meeting_frames: RateLimit = Limit(600, 10)
    limit_meeting_chat: RateLimit = Limit(10, 10)
    ice_servers: list[dict[str, Any]] = Field(default_factory=list)
    # Slow and idle connections: a socket must say hello within ws_hello_seconds; an HTTP
    # connection idle between requests is closed after http_keep_alive_seconds, and one
    # whose request head (request line and headers) has not arrived whole within
    # http_head_seconds of its start (slowloris) is closed with 408.
    ws_hello_seconds: float = Field(default=10, gt=0, le=300)
    http_keep_alive_seconds: float = Field(default=5, gt=0, le=300)
    http_head_seconds: float = Field(default=10, gt=0, le=300)
    log_level: str = "INFO"
    # For bench/payments.py: count the SQL statements this process sends and answer them at
    # GET /_bench/counters (404 otherwise). Off in production.
    bench_counters: bool = False

    @model_validator(mode="after")
    def _stripe_has_a_key(self) -> Settings:
        if self.gateway == "stripe" and self.stripe_secret_key is None:
            raise ValueError("FAREROOM_GATEWAY=stripe needs FAREROOM_STRIPE_SECRET_KEY (sk_…)")
        return self


class ConfigError(Exception):
    """Settings that cannot work: one sentence per bad variable, for a person to read."""


def load_settings() -> Settings:
    """The settings from the environment, or ``ConfigError`` saying what is wrong."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(" ".join(_sentence(e) for e in exc.errors())) from None


def _sentence(error: Any) -> str:
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if not error.get("loc"):
        return f"{message}."
    name = "FAREROOM_" + str(error["loc"][0]).upper()
    return f"{name}={error.get('input')!r} is not valid: {message}."
