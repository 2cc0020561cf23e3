"""What each step does, through the services a process uses (``Context.unit_of_work``),
as an API client would: a request that met a transient gateway error, or whose process
died, is sent again with the same ids (our Idempotency-Key: the resource id it claimed),
a few times; a refusal (4xx, a declined card) is taken as the answer."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from typing import Any

from fareroom.gateway.base import GatewayError, GatewayUnavailable
from fareroom.kit.errors import FareroomError
from fareroom.kit.ids import new_id
from fareroom.ledger.service import business
from fareroom.models.payment import Payment
from tests.fault import chat
from tests.fault.schedule import Step
from tests.fault.template import Business
from tests.fault.world import ProcessStopped, World

ATTEMPTS = 4
SETTLE_ROUNDS = 6
Op = Callable[["Runner", Step, Business], Awaitable[Any]]


class Runner:
    def __init__(self, world: World, businesses: list[Business]) -> None:
        self.world = world
        self.businesses = businesses
        self.operations = 0

    @property
    def ctx(self) -> Any:
        return self.world.ctx

    async def step(self, step: Step) -> None:
        self.world.plan(step.fault)
        self.operations += 1
        await OPERATIONS[step.op](self, step, self.businesses[step.b])
        self.world.plan(None)

    async def api(self, work: Callable[[], Awaitable[Any]]) -> bool:
        """Send a request until it is answered (True: it succeeded)."""
        for _ in range(ATTEMPTS):
            try:
                await work()
                return True
            except ProcessStopped:
                await self.world.restart()
            except GatewayUnavailable:
                pass
            except (GatewayError, FareroomError):
                return False
        return False

    def advance(self, seconds: int) -> None:
        self.world.clock.advance(timedelta(seconds=seconds))

    async def payments(self, b: Business, *, status: str, chat: bool | None = None
                       ) -> list[Payment]:  # fmt: skip
        async with self.ctx.unit_of_work() as s:
            views = await s.payments.list(b.id, limit=1000)
        found = [v.payment for v in views if v.payment.status == status]
        if chat is not None:
            found = [p for p in found if (p.source_id is not None) == chat]
        return sorted(found, key=lambda p: p.id)

    async def sessions(self, b: Business, *statuses: str) -> list[Any]:
        return [s for s in await chat.sessions(self.ctx, b.id) if s.status in statuses]


def _pick(items: list[Any], n: int) -> Any:
    return items[n % len(items)] if items else None


def _part(amount: int, n: int, *, low: int) -> int:
    """All of ``amount`` one time in three, else a share of it (at least ``low``)."""
    return amount if n % 3 == 0 else min(amount, max(low, amount * (n % 97) // 100))


async def _pay(r: Runner, step: Step, b: Business, *, capture: bool) -> None:
    client = b.clients[step.c]
    card = client.bad_card if client.bad_card and step.n % 5 == 0 else client.good_card
    payment_id = new_id("pay")

    async def work() -> None:
        async with r.ctx.unit_of_work(b.id) as s:
            biz = await s.payments.business(b.id)
            await s.payments.charge(biz, client_id=client.id, card_id=card,
                                    amount=100 + step.n % 20_000, currency="EUR",
                                    category=("service", "goods")[step.n % 2],
                                    capture=capture, payment_id=payment_id)  # fmt: skip

    await r.api(work)


async def _on_hold(r: Runner, step: Step, b: Business, *, capture: bool) -> None:
    """Capture (all or part of) one of the business's own holds, or cancel it."""
    hold = _pick(await r.payments(b, status="requires_capture", chat=False), step.n)
    if hold is None:
        return

    async def work() -> None:
        async with r.ctx.unit_of_work(b.id) as s:
            biz = await s.payments.business(b.id)
            if capture:
                await s.payments.capture(biz, hold.id, amount=_part(hold.amount, step.n, low=50))
            else:
                await s.payments.cancel(biz, hold.id)

    await r.api(work)


async def _refund(r: Runner, step: Step, b: Business) -> None:
    paid = [p for p in await r.payments(b, status="succeeded")
            if p.amount_refunded < p.amount_captured]  # fmt: skip
    payment = _pick(paid, step.n)
    if payment is None:
        return
    amount = _part(payment.amount_captured - payment.amount_refunded, step.n, low=1)
    refund_id = new_id("re")

    async def work() -> None:
        async with r.ctx.unit_of_work(b.id) as s:
            await s.payments.refund(await s.payments.business(b.id), payment.id,
                                    amount=amount, refund_id=refund_id)  # fmt: skip

    await r.api(work)


async def _payout(r: Runner, step: Step, b: Business) -> None:
    async with r.ctx.unit_of_work() as s:
        available = await s.ledger.balance(business("business_balance", "EUR", b.id))
    if available < 1:
        return
    payout_id = new_id("po")

    async def work() -> None:
        async with r.ctx.unit_of_work(b.id) as s:
            await s.payments.payout(await s.payments.business(b.id), payout_id=payout_id,
                                    amount=_part(available, step.n, low=1))  # fmt: skip

    await r.api(work)


async def _open(r: Runner, step: Step, b: Business) -> None:
    session_id = new_id("cs")
    await r.api(lambda: chat.open_session(
        r.ctx, b.id, room_id=b.rooms[step.n % 2], agent_id=b.agent_id,
        client_id=b.clients[step.c].id, session_id=session_id))  # fmt: skip


EVENTS = (("start", None), ("pause", None), ("resume", None), ("offline", "client"),
          ("online", "client"))  # fmt: skip


async def _event(r: Runner, step: Step, b: Business) -> None:
    session = _pick(await r.sessions(b, "open"), step.n)
    if session is None:
        return
    r.advance(step.n % 200)
    kind, party = EVENTS[(step.n // 7) % len(EVENTS)]
    await r.api(lambda: chat.record(r.ctx, b.id, session.id, kind, party))


async def _hangup(r: Runner, step: Step, b: Business) -> None:
    session = _pick(await r.sessions(b, "open"), step.n)
    if session is None:
        return
    r.advance(step.n % 400)
    await r.api(lambda: chat.record(r.ctx, b.id, session.id, "hangup"))


async def _card(r: Runner, step: Step, b: Business) -> None:
    session = _pick(await r.sessions(b, "open", "payment_failed"), step.n)
    if session is None:
        return
    client = next(c for c in b.clients if c.id == session.client_id)
    bad = client.bad_card is not None and (step.n // 3) % 2 == 0
    card = client.bad_card if bad else client.good_card
    await r.api(lambda: chat.change_card(r.ctx, b.id, session.id, str(card)))


async def _abandon(r: Runner, step: Step, b: Business) -> None:
    session = _pick(await r.sessions(b, "payment_failed"), step.n)
    if session is not None:
        await r.api(lambda: chat.abandon(r.ctx, b.id, session.id))


async def _request(r: Runner, step: Step, b: Business) -> None:
    session = _pick(await r.sessions(b, "open"), step.n) if step.n % 3 else None
    client_id = session.client_id if session else b.clients[step.c].id
    request_id = new_id("preq")
    made = await r.api(lambda: chat.request(
        r.ctx, b.id, room_id=session.room_id if session else b.rooms[0], agent_id=b.agent_id,
        client_id=client_id, session_id=session.id if session else None,
        total=100 + step.n % 5_000, category=("service", "goods")[step.n % 2],
        request_id=request_id))  # fmt: skip
    if made:
        await r.api(lambda: chat.pay_request(r.ctx, b.id, request_id))


async def _tick(r: Runner, step: Step, b: Business) -> None:
    r.advance(30 * (1 + step.n % 10))
    await r.world.guarded(lambda: chat.tick(r.ctx))


async def _advance(r: Runner, step: Step, b: Business) -> None:
    r.advance(step.n % 200)
    await r.world.round()


async def _deliver(r: Runner, step: Step, b: Business) -> None:
    await r.world.deliver(random.Random(step.n), share=(1 + step.n % 4) / 4, duplicate=0.3)


async def _wait(r: Runner, step: Step, b: Business) -> None:
    """Days pass (holds lapse after 7), then a worker round."""
    r.advance(86_400 * (1 + step.n % 8))
    await r.world.round()


async def _worker(r: Runner, step: Step, b: Business) -> None:
    r.advance(r.world.settings.reconcile_after_seconds + 1)
    await r.world.round()


OPERATIONS: dict[str, Op] = {
    "charge": lambda r, step, b: _pay(r, step, b, capture=True),
    "hold": lambda r, step, b: _pay(r, step, b, capture=False),
    "capture": lambda r, step, b: _on_hold(r, step, b, capture=True),
    "cancel": lambda r, step, b: _on_hold(r, step, b, capture=False),
    "refund": _refund, "payout": _payout,
    "open": _open, "event": _event, "hangup": _hangup, "card": _card, "abandon": _abandon,
    "request": _request, "tick": _tick, "advance": _advance, "deliver": _deliver,
    "worker": _worker, "wait": _wait,
}  # fmt: skip


async def settle(r: Runner) -> None:
    """No more faults: every open chat hangs up, the webhooks arrive (the first ones some
    twice) and the worker runs until a round leaves nothing to deliver."""
    r.world.plan(None)
    for b in r.businesses:
        for session in await r.sessions(b, "open"):
            await r.api(partial(chat.record, r.ctx, b.id, session.id, "hangup"))
    rng = random.Random(0)
    for i in range(SETTLE_ROUNDS):
        r.advance(r.world.settings.reconcile_after_seconds + 1)
        await r.world.round()
        delivered = await r.world.deliver(rng, share=1.0, duplicate=0.3 if i == 0 else 0.0)
        if i and not delivered:
            return
