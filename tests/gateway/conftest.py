"""Adapters under contract: the sandbox, and the Stripe adapter against localstripe."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from fareroom.bootstrap import Context
from fareroom.gateway.base import PaymentGateway
from fareroom.gateway.stripe import StripeGateway, make_client
from tests.support.servers import LocalStripe

STRIPE_WEBHOOK_SECRET = "whsec_contract"


@dataclass
class Adapter:
    name: str
    gateway: PaymentGateway
    make_token: Any
    webhook_secret: str

    async def token(self, number: str) -> str:
        return str(await self.make_token(number))

    async def customer(self, key: str) -> str:
        return await self.gateway.create_customer(
            email="c@example.com", name="C", idempotency_key=f"{key}:customer"
        )

    async def card(self, key: str, number: str = "4242424242424242") -> tuple[str, str]:
        customer = await self.customer(key)
        card = await self.gateway.attach_card(
            customer_id=customer, token=await self.token(number), idempotency_key=f"{key}:card"
        )
        return customer, card.payment_method_id


@pytest.fixture(params=["sandbox", "stripe"])
async def adapter(request: pytest.FixtureRequest, ctx: Context) -> AsyncIterator[Adapter]:
    if request.param == "sandbox":
        sandbox = ctx.sandbox
        assert sandbox is not None

        async def sandbox_token(number: str) -> str:
            return await sandbox.tokenize(number=number, exp_month=12, exp_year=2035)

        yield Adapter(
            "sandbox",
            sandbox,
            sandbox_token,
            await sandbox.webhook_secret(),
        )
        return
    server: LocalStripe = request.getfixturevalue("localstripe")
    server.wipe()
    client = make_client("sk_test_contract", api_base=server.url)

    async def stripe_token(number: str) -> str:
        # What Stripe.js does in the browser: the card number goes to Stripe, never to us.
        pm = await client.v1.payment_methods.create_async(
            {
                "type": "card",
                "card": {"number": number, "exp_month": 12, "exp_year": 2035, "cvc": "123"},
            }
        )
        return str(pm.id)

    yield Adapter(
        "stripe",
        StripeGateway(client, webhook_secret=STRIPE_WEBHOOK_SECRET),
        stripe_token,
        STRIPE_WEBHOOK_SECRET,
    )
