from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, select

from fareroom.kit.repository import Repository
from fareroom.models.client import Card, Client

_CARD = select(Card).where(
    Card.id == bindparam("card_id"),
    Card.business_id == bindparam("business_id"),
    Card.client_id == bindparam("client_id"),
    Card.deleted_at.is_(None),
)


class ClientsRepository(Repository):
    """Every query is scoped to one business."""

    async def client(self, business_id: str, client_id: str) -> Client | None:
        return await self.of_business(Client, business_id, client_id)

    async def client_by_email(self, business_id: str, email: str) -> Client | None:
        """The business's first client with this (lower-cased) email address."""
        stmt = (
            select(Client)
            .where(Client.business_id == business_id, Client.email == email)
            .order_by(Client.created_at, Client.id)
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar()

    async def clients(
        self, business_id: str, *, limit: int, starting_after: str | None
    ) -> Sequence[Client]:
        return await self.newest_first(
            Client, business_id, limit=limit, starting_after=starting_after
        )

    async def cards(self, business_id: str, client_id: str) -> Sequence[Card]:
        stmt = (
            select(Card)
            .where(Card.business_id == business_id, Card.client_id == client_id,
                   Card.deleted_at.is_(None))
            .order_by(Card.id)
        )  # fmt: skip
        return (await self.session.execute(stmt)).scalars().all()

    async def card(self, business_id: str, client_id: str, card_id: str) -> Card | None:
        params = {"card_id": card_id, "business_id": business_id, "client_id": client_id}
        return (await self.session.execute(_CARD, params)).scalar()
