"""The demo business that ``make run`` serves: an owner, clients with cards, some payments,
and a chat room with a taxi meter."""

from __future__ import annotations

from fareroom.bootstrap import Context, bootstrap
from fareroom.models.business import Business

DEMO_EMAIL = "owner@demo.fareroom.test"
DEMO_PASSWORD = "demo-password"
DEMO_AGENT = "agent@demo.fareroom.test"


async def seed() -> dict[str, str]:
    """Create the demo business once; later runs print a fresh API key for it."""
    ctx = bootstrap()
    try:
        async with ctx.unit_of_work() as s:
            existing = await s.accounts.user_by_email(DEMO_EMAIL)
            if existing is not None and existing.business_id:
                key = await s.accounts.create_api_key(existing.business_id, name="demo")
                return {
                    "business_id": existing.business_id,
                    "login": DEMO_EMAIL,
                    "password": DEMO_PASSWORD,
                    "agent_login": DEMO_AGENT,
                    "api_key": key,
                    "url": ctx.settings.base_url,
                }
            made = await s.accounts.create_business(
                name="Demo Consulting", owner_email=DEMO_EMAIL, owner_password=DEMO_PASSWORD
            )
        biz = made.business
        assert ctx.sandbox is not None, "the demo seeds through the sandbox gateway"
        people = [
            ("Ada Client", "ada@example.com", "4242424242424242"),
            ("Bo Buyer", "bo@example.com", "5555555555554444"),
        ]
        for i, (name, email, number) in enumerate(people):
            async with ctx.unit_of_work(biz.id) as s:
                client = await s.clients.create(biz.id, name=name, email=email)
                token = await ctx.sandbox.tokenize(number=number, exp_month=12, exp_year=2034)
                await s.clients.add_card(biz.id, client.id, token=token)
                paid = await s.payments.charge(
                    biz,
                    client_id=client.id,
                    card_id=None,
                    amount=12_000 + i * 2_500,
                    currency="EUR",
                    category="service",
                    capture=True,
                    description="Consultation, 1 hour",
                )
                await s.payments.charge(
                    biz,
                    client_id=client.id,
                    card_id=None,
                    amount=4_900,
                    currency="EUR",
                    category="goods",
                    capture=False,
                    description="Workbook (held)",
                )
                if i == 0:
                    await s.payments.refund(biz, paid.id, amount=2_000, reason="Started late")
        async with ctx.unit_of_work(biz.id) as s:
            agent = await s.accounts.add_user(biz.id, email=DEMO_AGENT, password=DEMO_PASSWORD,
                                              role="agent", name="Sam (agent)")  # fmt: skip
        await _chat_room(ctx, biz, [agent.id, made.owner.id])
        return {
            "business_id": biz.id,
            "login": DEMO_EMAIL,
            "password": DEMO_PASSWORD,
            "agent_login": DEMO_AGENT,
            "api_key": made.api_key,
            "url": ctx.settings.base_url,
        }
    finally:
        await ctx.close()


async def _chat_room(ctx: Context, biz: Business, agent_ids: list[str]) -> None:
    async with ctx.unit_of_work(biz.id) as s:
        await s.chat.create_room(
            biz, name="Advice by the minute", agent_ids=agent_ids,
            terms="10.00 EUR for the first 5 minutes, then 1.00 EUR per 30 seconds begun. "
            "A hold of 20.00 EUR is placed on your card when the chat starts; whenever "
            "20.00 EUR is due, it is collected and a new hold placed.",
            # The split threshold equals the hold, so what is due is always covered by it
            # (a threshold above the hold is warned about), and 20.00 is large enough that
            # processing fees take under 5 % of each collection.
            tariff={"block_minutes": 5, "block_price": 1000, "preauth_amount": 2000,
                    "split_threshold": 2000},
        )  # fmt: skip
