"""Clients and cards. A card is registered from a gateway token only; we keep brand, last 4,
expiry and fingerprint, never the number."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.clients.repository import ClientsRepository
from fareroom.gateway.base import PaymentGateway
from fareroom.gateway.log import acting_for
from fareroom.kit.clock import Clock
from fareroom.kit.errors import InvalidEmail, NameRequired, NotFound, ValidationFailed
from fareroom.kit.ids import new_id
from fareroom.ledger import stats
from fareroom.models.client import Card, Client


@dataclass(frozen=True)
class ClientView:
    client: Client
    cards: Sequence[Card]


@dataclass(frozen=True)
class CardView:
    card: Card
    default: bool


class ClientsService:
    def __init__(self, session: AsyncSession, gateway: PaymentGateway, clock: Clock) -> None:
        self._repo = ClientsRepository(session)
        self._gateway = gateway
        self._clock = clock

    async def create(
        self, business_id: str, *, name: str, email: str, client_id: str | None = None
    ) -> Client:
        name, email = name.strip(), email.strip().lower()
        if not name:
            raise NameRequired("client")
        if "@" not in email or len(email) > 254:
            raise InvalidEmail("The client's email address is not valid.")
        client_id = client_id or new_id("cli")
        # The key is derived from our id, so a retried request creates one customer.
        acting_for(business_id)
        customer_id = await self._gateway.create_customer(
            email=email, name=name, idempotency_key=f"client:{client_id}:customer"
        )
        client = Client(
            id=client_id,
            business_id=business_id,
            name=name,
            name_key=name.lower(),
            email=email,
            gateway_customer_id=customer_id,
            created_at=self._clock.now(),
        )
        await self._repo.add(client)
        await stats.count(self._repo.session, business_id, client.created_at,
                          await self._repo.currency_of(business_id), customers=1)  # fmt: skip
        return client

    async def for_email(self, business_id: str, *, name: str, email: str) -> Client:
        """The business's client with this email address, or a new one. Whoever types an
        address is not proven to own it, so callers must not show what the record holds
        (its name, its saved cards) to them; they only add to it."""
        found = await self.by_email(business_id, email)
        return found if found is not None else await self.create(business_id, name=name,
                                                                 email=email)  # fmt: skip

    async def by_email(self, business_id: str, email: str) -> Client | None:
        return await self._repo.client_by_email(business_id, email.strip().lower())

    async def get(self, business_id: str, client_id: str) -> Client:
        client = await self._repo.client(business_id, client_id)
        if client is None:
            raise NotFound(f"No client {client_id!r} in this business.", code="client_not_found")
        return client

    async def view(self, business_id: str, client_id: str) -> ClientView:
        client = await self.get(business_id, client_id)
        return ClientView(client, await self._repo.cards(business_id, client_id))

    async def list(
        self, business_id: str, *, limit: int, starting_after: str | None
    ) -> Sequence[Client]:
        return await self._repo.clients(business_id, limit=limit, starting_after=starting_after)

    async def add_card(
        self, business_id: str, client_id: str, *, token: str, recurring_authorised: bool = False,
        card_id: str | None = None,
    ) -> CardView:  # fmt: skip
        """Attach the tokenised card; the client's first card becomes the default."""
        client = await self.get(business_id, client_id)
        if not token.strip():
            raise ValidationFailed("A card token is required.", code="token_required")
        card_id = card_id or new_id("card")
        acting_for(business_id)
        details = await self._gateway.attach_card(
            customer_id=str(client.gateway_customer_id),
            token=token.strip(),
            idempotency_key=f"card:{card_id}:attach",
        )
        card = Card(id=card_id, business_id=business_id, client_id=client.id,
                    gateway_payment_method_id=details.payment_method_id, brand=details.brand,
                    last4=details.last4, exp_month=details.exp_month, exp_year=details.exp_year,
                    fingerprint=details.fingerprint, recurring_authorised=recurring_authorised,
                    created_at=self._clock.now())  # fmt: skip
        await self._repo.add(card)
        if client.default_card_id is None:
            client.default_card_id = card.id
        return CardView(card, client.default_card_id == card.id)

    async def card(self, business_id: str, client_id: str, card_id: str) -> Card:
        card = await self._repo.card(business_id, client_id, card_id)
        if card is None:
            raise NotFound(f"No card {card_id!r} for this client.", code="card_not_found")
        return card

    async def card_label(self, business_id: str, client_id: str, card_id: str) -> str:
        """The card as a receipt names it ("Visa •••• 4242"); "card" once it was deleted."""
        card = await self._repo.card(business_id, client_id, card_id)
        return f"{card.brand.capitalize()} •••• {card.last4}" if card else "card"

    async def update_card(
        self, business_id: str, client_id: str, card_id: str, *,
        make_default: bool | None = None, recurring_authorised: bool | None = None,
    ) -> Card:  # fmt: skip
        client = await self.get(business_id, client_id)
        card = await self.card(business_id, client_id, card_id)
        if make_default:
            client.default_card_id = card.id
        if recurring_authorised is not None:
            card.recurring_authorised = recurring_authorised
        return card

    async def set_preference(self, business_id: str, client_id: str, *, pay_with: str,
                             card_id: str | None, autopay_days: int | None) -> Client:  # fmt: skip
        """How the client's bills are paid: the card (``card_id``, the default card), or the
        wallet first; and N days before they are due (None: the business's setting)."""
        client = await self.get(business_id, client_id)
        if pay_with not in ("card", "wallet_first"):
            raise ValidationFailed("Pay with 'card' or 'wallet_first'.", code="invalid_pay_with")
        if autopay_days is not None and not 0 <= autopay_days <= 60:
            raise ValidationFailed("Bills are paid 0 to 60 days before they are due.",
                                   code="invalid_autopay_days")  # fmt: skip
        if card_id is not None:
            client.default_card_id = (await self.card(business_id, client.id, card_id)).id
        client.pay_with, client.autopay_days = pay_with, autopay_days
        return client

    async def search(self, business_id: str, text: str, *, limit: int = 50) -> Sequence[Client]:
        text = text.strip()[:100]
        return await self._repo.search(business_id, text, limit=limit) if text else []

    async def delete(self, business_id: str, client_id: str) -> Client:
        """The client is gone from lists, and its cards from the gateway; its payments and
        bills stay (the books keep what happened). A client still owing, or holding a
        wallet's credit, is settled first (the caller checks: ``billing``)."""
        client = await self.get(business_id, client_id)
        if client.deleted_at is not None:
            raise NotFound(f"No client {client_id!r} in this business.", code="client_not_found")
        for card in await self._repo.cards(business_id, client.id):
            await self.delete_card(business_id, client.id, card.id)
        client.deleted_at = self._clock.now()
        client.default_card_id = None
        return client

    async def delete_card(self, business_id: str, client_id: str, card_id: str) -> None:
        client = await self.get(business_id, client_id)
        card = await self.card(business_id, client_id, card_id)
        acting_for(business_id)
        await self._gateway.detach_card(payment_method_id=card.gateway_payment_method_id)
        card.deleted_at = self._clock.now()
        if client.default_card_id == card.id:
            rest = [c for c in await self._repo.cards(business_id, client_id) if c.id != card.id]
            client.default_card_id = rest[0].id if rest else None
