"""The template every schedule starts from: migrated once, with two businesses (the second
paid through its connected account, so charges carry a destination and a platform fee),
each with two clients (a good card; a good card and one that attaches but fails every
charge) and two chat rooms (a plain tariff; a split-bill tariff the agent may pause)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from fareroom.bootstrap import Context, bootstrap
from fareroom.cli import migrate
from fareroom.config import Settings
from fareroom.kit.clock import FrozenClock
from tests.fault.world import START, seeded_ids, settings_for

GOOD, FAILS = "4242424242424242", "4000000000000341"
ROOMS = (
    {"block_minutes": 5, "block_price": 1000, "preauth_amount": 2000},
    {"block_minutes": 5, "block_price": 1000, "preauth_amount": 2000, "split_threshold": 1500},
)


@dataclass(frozen=True)
class Client:
    id: str
    good_card: str
    bad_card: str | None


@dataclass(frozen=True)
class Business:
    id: str
    agent_id: str
    clients: list[Client]
    rooms: list[str]


def load(directory: Path) -> list[Business]:
    raw = json.loads((directory / "manifest.json").read_text())
    return [Business(b["id"], b["agent_id"], [Client(**c) for c in b["clients"]], b["rooms"])
            for b in raw]  # fmt: skip


def build(directory: Path) -> list[Business]:
    """Migrate and fill the template in ``directory`` (its ids come from a seed of their own)."""
    directory.mkdir(parents=True, exist_ok=True)
    settings = settings_for(directory)
    migrate(settings.database_url)
    with seeded_ids(None):
        made = asyncio.run(_fill(settings))
    (directory / "manifest.json").write_text(json.dumps([asdict(b) for b in made]))
    return made


async def _fill(settings: Settings) -> list[Business]:
    ctx = bootstrap(settings, clock=FrozenClock(START))
    assert ctx.sandbox is not None
    made = []
    try:
        for n in range(2):
            async with ctx.unit_of_work() as s:
                new = await s.accounts.create_business(
                    name=f"Business {n}", owner_email=f"owner{n}@fault.local",
                    owner_password="correct horse battery")  # fmt: skip
                biz, agent = new.business, new.owner.id
                if n == 1:
                    await s.payments.start_onboarding(
                        biz, email="owner1@fault.local", return_url="http://fault.local/"
                    )
                rooms = [(await s.chat.create_room(
                    biz, name=f"Room {i}", terms="You pay per minute.", tariff=tariff,
                    agent_ids=[agent], agent_may_pause=i == 1)).room.id
                    for i, tariff in enumerate(ROOMS)]  # fmt: skip
            if n == 1:
                await ctx.sandbox.complete_onboarding(str(biz.gateway_account_id))
                async with ctx.unit_of_work() as s:
                    await s.payments.refresh_account(await s.payments.business(biz.id))
            clients = [await _client(ctx, biz.id, f"c{i}", bad=i == 1) for i in range(2)]
            made.append(Business(biz.id, agent, clients, rooms))
    finally:
        await ctx.close()
    return made


async def _client(ctx: Context, business_id: str, name: str, *, bad: bool) -> Client:
    assert ctx.sandbox is not None
    cards: list[str] = []
    for number in (GOOD, FAILS) if bad else (GOOD,):
        token = await ctx.sandbox.tokenize(number=number, exp_month=12, exp_year=2035)
        async with ctx.unit_of_work(business_id) as s:
            if not cards:
                client = await s.clients.create(business_id, name=name,
                                                email=f"{name}@fault.local")  # fmt: skip
            cards.append((await s.clients.add_card(business_id, client.id, token=token)).card.id)
    return Client(client.id, cards[0], cards[1] if bad else None)
