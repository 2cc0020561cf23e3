"""The gateway request log: every call, its outcome and latency; never a secret or card number.

Records are collected per unit of work (``scope``). When the unit of work commits, they are
written in its own transaction (``flush_into``); when it rolls back, they are written in a
transaction of their own afterwards: a declined card rolls the request back, yet its attempt
stays in the log. (On SQLite a second writer could not write while the request holds the
database's write lock, so the log is never written beside an open transaction.)
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fareroom.gateway.base import GatewayError, PaymentDeclined, PaymentGateway
from fareroom.gateway.repository import GatewayLogRepository
from fareroom.kit.clock import Clock
from fareroom.kit.db import transaction
from fareroom.kit.ids import new_id
from fareroom.models.gateway import RequestOutcome

_PAN = re.compile(r"\d[\d -]{11,22}\d")
_SECRET_KEYS = ("secret", "password", "number", "cvc", "api_key", "authorization")


@dataclass
class LogScope:
    """One unit of work's records, and the business they belong to: known once the caller
    is authenticated, or once a service acts for a business (``acting_for``)."""

    business_id: str | None = None
    records: list[dict[str, Any]] = field(default_factory=list)


_scope: ContextVar[LogScope | None] = ContextVar("gateway_log_scope", default=None)


def acting_for(business_id: str) -> None:
    """The gateway calls of this unit of work are made for ``business_id``.

    Services say so as soon as they know whose money or cards they handle, so every call,
    declined ones first of all, lands in that business's log whoever the caller was (an
    API key, a client's public page, the worker)."""
    scope = _scope.get()
    if scope is not None:
        scope.business_id = business_id


def redact(value: Any) -> Any:
    """Drop secret-looking keys and mask anything shaped like a card number."""
    if isinstance(value, dict):
        return {k: ("[redacted]" if any(s in k.lower() for s in _SECRET_KEYS) else redact(v))
                for k, v in value.items()}  # fmt: skip
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _PAN.sub("[redacted]", value)
    return value


class GatewayLog:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    @asynccontextmanager
    async def scope(self, business_id: str | None = None) -> AsyncIterator[LogScope]:
        """Collect this unit of work's records; whatever is not flushed into its transaction
        is written when the scope ends."""
        scope = LogScope(business_id)
        token = _scope.set(scope)
        try:
            yield scope
        finally:
            _scope.reset(token)
            if scope.records:
                await self._write(scope)

    @staticmethod
    async def flush_into(session: AsyncSession, scope: LogScope) -> None:
        """Write the collected records in the committing transaction."""
        await _insert(session, scope)

    async def _write(self, scope: LogScope) -> None:
        async with transaction(self._sessions) as session:
            await _insert(session, scope)

    async def record(self, record: dict[str, Any]) -> None:
        scope = _scope.get()
        if scope is not None:
            # Stamped now: a unit of work may act for one business after another.
            record["business_id"] = record["business_id"] or scope.business_id
            scope.records.append(record)
        else:
            await self._write(LogScope(record["business_id"], [record]))

    def new_record(self, **fields: Any) -> dict[str, Any]:
        """A row of ``gateway_requests``."""
        return {"id": new_id("greq"), "created_at": self._clock.now(), "business_id": None,
                **fields}  # fmt: skip


class LoggedGateway:
    """Wraps any ``PaymentGateway`` and logs each call; behaves exactly like the inner one."""

    _LOGGED = ("create_customer", "attach_card", "detach_card", "create_charge", "capture",
               "cancel", "retrieve_charge", "refund", "create_account", "onboarding_link",
               "retrieve_account", "create_payout")  # fmt: skip

    def __init__(self, inner: PaymentGateway, log: GatewayLog) -> None:
        self.inner = inner
        self.name = inner.name
        self._log = log

    def __getattr__(self, attr: str) -> Any:
        target = getattr(self.inner, attr)
        if attr not in self._LOGGED:
            return target
        return self._wrap(attr, target)

    def _wrap(self, operation: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            params: dict[str, Any] = {}
            for arg in args:
                params.update(asdict(arg) if is_dataclass(arg) else {})  # type: ignore[arg-type]
            params.update(kwargs)
            key = params.pop("idempotency_key", None)
            metadata = params.get("metadata") or {}
            reference = metadata.get("reference") or params.get("charge_id") or ""
            started = time.perf_counter()
            outcome, error, result = RequestOutcome.OK, None, None
            try:
                result = await fn(*args, **kwargs)
                return result
            except GatewayError as exc:
                outcome, error = RequestOutcome.ERROR, exc
                raise
            finally:
                await self._log.record(self._log.new_record(
                    gateway=self.name, operation=operation, reference=str(reference)[:120],
                    idempotency_key=key, request_summary=json.dumps(redact(params),
                                                                    default=str),
                    outcome=outcome, gateway_object_id=_object_id(result),
                    error_type=type(error).__name__ if error else None,
                    error_code=error.code if error else None,
                    decline_code=error.decline_code if isinstance(error, PaymentDeclined)
                    else None,
                    latency_ms=int((time.perf_counter() - started) * 1000)))  # fmt: skip

        return call


async def _insert(session: AsyncSession, scope: LogScope) -> None:
    """All the scope's records, stamped with its business where they have none."""
    if not scope.records:
        return
    for record in scope.records:
        record["business_id"] = record["business_id"] or scope.business_id
    await GatewayLogRepository(session).insert(scope.records)
    scope.records.clear()


def _object_id(result: Any) -> str | None:
    if isinstance(result, str):
        return result[:64] if not result.startswith("http") else None
    value = getattr(result, "id", None) or getattr(result, "payment_method_id", None)
    return str(value) if value else None
