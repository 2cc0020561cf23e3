"""Idempotency of our own API (Stripe's model).

A request with an ``Idempotency-Key`` first claims the key in its own short transaction. The
claim allocates the id of the resource the request will create; every retry reuses it, so the
gateway keys derived from it repeat and the gateway replays instead of charging again.

- same key, same request, finished → the first response again (``Idempotent-Replayed``);
- same key, another request → 422 ``idempotency_key_reused``;
- same key while the first attempt still runs → 409 ``idempotency_key_in_use``;
- the first attempt failed transiently (gateway timeout) → the claim is released and a retry
  carries on with the same resource id; a final 4xx answer is stored and replayed.

The response is stored in the same transaction as the effect it describes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fareroom.idempotency.repository import IdempotencyRepository, claim_first_use
from fareroom.kit.clock import Clock
from fareroom.kit.db import driver_transaction, statement_count, transaction
from fareroom.kit.errors import Conflict, ValidationFailed
from fareroom.kit.ids import new_id

LEASE = timedelta(seconds=60)  # an attempt that held the key longer than this has died


@dataclass(frozen=True)
class Claim:
    record_id: str
    resource_id: str
    replay: tuple[int, Any] | None = None
    # The API key's business, when the claim authenticated the request already.
    business_id: str | None = None


def request_hash(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method.upper(), path, body], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def claim(
        self,
        authenticate: Callable[[AsyncSession], Awaitable[str]],
        key: str,
        digest: str,
        prefix: str,
        *,
        key_hash: str | None = None,
    ) -> Claim:
        """Authenticate (``authenticate`` returns the business id) and claim the key, in one
        short transaction committed before the work starts.

        With ``key_hash`` (the API key's SHA-256) a first use of the key is claimed in one
        statement on the driver's connection that also checks the API key and gives its
        business (``Claim.business_id``, so the request need not check it again); a key seen
        before, or an API key that is not valid, takes the full path, which answers each
        case."""
        key = key.strip()
        if not key or len(key) > 255 or not key.isprintable():
            raise ValidationFailed(
                "The Idempotency-Key is 1 to 255 printable characters.",
                code="invalid_idempotency_key",
            )
        now = self._clock.now()
        record_id, resource_id = new_id("idem"), new_id(prefix)
        if key_hash is not None:
            business_id = await self._claim_first_use({
                "id": record_id, "key": key, "request_hash": digest,
                "resource_id": resource_id, "now": now, "key_hash": key_hash,
            })  # fmt: skip
            if business_id is not None:
                return Claim(record_id, resource_id, business_id=business_id)
        async with transaction(self._sessions) as session:
            business_id = await authenticate(session)
            repo = IdempotencyRepository(session)
            values = {"id": record_id, "business_id": business_id, "key": key,
                      "request_hash": digest, "resource_id": resource_id, "locked_at": now,
                      "created_at": now}  # fmt: skip
            if await repo.insert_new(values):
                return Claim(record_id, resource_id)
            found = await repo.locked(business_id, key)
            assert found is not None
            if found.request_hash != digest:
                raise ValidationFailed(
                    "This Idempotency-Key was already used for a different request.",
                    code="idempotency_key_reused",
                )
            if found.response_status is not None:
                body = json.loads(found.response_body or "null")
                return Claim(found.id, found.resource_id, (found.response_status, body))
            if found.locked_at is not None and now - found.locked_at < LEASE:
                raise Conflict(
                    "A request with this Idempotency-Key is still in progress.",
                    code="idempotency_key_in_use",
                )
            found.locked_at = now
            return Claim(found.id, found.resource_id)

    async def _claim_first_use(self, values: dict[str, Any]) -> str | None:
        """The one-statement claim on the driver's connection: a statement that is a
        transaction by itself on PostgreSQL (autocommit), a write transaction on SQLite."""
        engine = self._sessions.kw["bind"]
        dialect = engine.dialect.name
        async with driver_transaction(engine, single=dialect == "postgresql") as raw:
            business_id = await claim_first_use(raw, dialect, values)
        if (counted := statement_count(engine)) is not None:
            counted.statements += 1
        return business_id

    async def complete(self, session: AsyncSession, claim: Claim, status: int, body: Any) -> None:
        """Store the response inside the request's own transaction."""
        await IdempotencyRepository(session).finish(claim.record_id, status, json.dumps(body))

    async def fail(self, claim: Claim, *, status: int | None, body: Any = None) -> None:
        """After a rollback: store a final 4xx answer, or release the key (``status=None``)."""
        async with transaction(self._sessions) as session:
            await IdempotencyRepository(session).finish(
                claim.record_id, status, json.dumps(body) if status is not None else None
            )
