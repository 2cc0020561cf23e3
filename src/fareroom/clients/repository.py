from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, select

from fareroom.kit.repository import Repository
from fareroom.models.business import Business
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
            Client, business_id, Client.deleted_at.is_(None), limit=limit,
            starting_after=starting_after,
        )  # fmt: skip

    async def search(self, business_id: str, text: str, *, limit: int) -> Sequence[Client]:
        """Clients whose name (any case) or email starts with ``text``: two range scans of
        the business's name and email indexes, whatever the number of clients."""
        found: dict[str, Client] = {}
        key = text.lower()
        for column in (Client.name_key, Client.email):
            stmt = (select(Client)
                    .where(Client.business_id == business_id, column >= key,
                           column < key + "\U0010ffff", Client.deleted_at.is_(None))
                    .order_by(column).limit(limit))  # fmt: skip
            for client in (await self.session.scalars(stmt)).all():
                found.setdefault(client.id, client)
        return sorted(found.values(), key=lambda c: (c.name_key, c.id))[:limit]

    async def currency_of(self, business_id: str) -> str:
        stmt = select(Business.default_currency).where(Business.id == business_id)
        return str(await self.session.scalar(stmt))

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
