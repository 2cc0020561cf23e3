"""All SQL of the gateway request log (the sandbox keeps its own store)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, insert

from fareroom.kit.repository import Repository
from fareroom.models.gateway import GatewayRequest

_INSERT = insert(cast(Table, GatewayRequest.__table__))


class GatewayLogRepository(Repository):
    async def insert(self, records: list[dict[str, Any]]) -> None:
        """Rows of ``gateway_requests``, in one statement (a Core insert: the ORM's unit of
        work costs more than the write)."""
        await self.session.execute(_INSERT, records)
