"""The sandbox gateway: Fareroom's built-in stand-in for Stripe's test mode.

Product code, not a test double: deterministic, persistent (``sandbox_objects`` in its own
store), honouring idempotency keys, holds that expire after 7 days, one capture per hold,
refunds up to what was captured, a simulated Connect onboarding, webhook-shaped events
delivered to the same inbox as Stripe's, fault injection for reliability tests (the next
calls of an operation, or charges at random by the settings), and a rate limit answered
429 above it, as Stripe's.

Tokens come from ``tokenize`` (``POST /sandbox/tokens``): the card number is mapped to its
behaviour there and dropped; only brand, last 4, expiry and a fingerprint are kept.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fareroom.gateway.base import (
    AccountResult,
    CardDetails,
    ChargeRequest,
    ChargeResult,
    GatewayEvent,
    GatewayInvalidRequest,
    GatewayRateLimited,
    GatewayTimeout,
    IdempotencyKeyInUse,
    PaymentActionRequired,
    PaymentDeclined,
    PayoutResult,
    RefundResult,
    ResourceMissing,
    WebhookSignatureInvalid,
    parse_event,
)
from fareroom.gateway.sandbox_store import SandboxStore
from fareroom.gateway.signature import SignatureInvalid, sign, verify
from fareroom.gateway.testcards import TEST_CARDS, luhn_ok
from fareroom.kit.bucket import TokenBucket
from fareroom.kit.clock import Clock
from fareroom.kit.db import driver_transaction, statement_count, transaction
from fareroom.kit.ids import new_id
from fareroom.kit.money import round_half_up
from fareroom.models.gateway import SandboxObject

HOLD_LIFETIME = timedelta(days=7)
PAYOUT_TRANSIT = timedelta(days=2)  # a payout arrives in the bank two days later
FAULTS = ("timeout", "rate_limit", "lost_response")
# The installation's own webhook secret, when none is configured: made once, kept in the
# sandbox's store, so every process of the installation signs and verifies with it.
WEBHOOK_SECRET_ID = "setting:webhook_secret"
_CARD_TEXT = re.compile(r"[0-9 -]+")

EventSink = Callable[[bytes, str], Awaitable[None]]


@dataclass
class ProcessingFee:
    rate: Fraction
    fixed: int

    def of(self, amount: int) -> int:
        return round_half_up(Fraction(amount) * self.rate + self.fixed) if amount else 0


_objects = cast(Table, SandboxObject.__table__)


def parse_fault_rates(text: str) -> dict[str, float]:
    """``"timeout=0.01,lost_response=0.005"`` (the sandbox_faults setting)."""
    rates = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        fault, _, rate = part.partition("=")
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}: one of {', '.join(FAULTS)}")
        rates[fault] = float(rate)
    if sum(rates.values()) > 1:
        raise ValueError("the faults' probabilities add up to more than 1")
    return rates


class SandboxGateway:
    name = "sandbox"

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        webhook_secret: str | None,
        fingerprint_secret: str,
        processing_fee: ProcessingFee,
        base_url: str,
        rate_limit: TokenBucket | None = None,
        fault_rates: dict[str, float] | None = None,
    ) -> None:
        self._sessions = sessions
        self._engine: AsyncEngine = sessions.kw["bind"]
        self._clock = clock
        self._webhook_secret = webhook_secret
        self._fingerprint_secret = fingerprint_secret.encode()
        self._fee = processing_fee
        self._base_url = base_url.rstrip("/")
        self._faults: dict[str, list[str]] = {}
        self._limit = rate_limit
        self._fault_rates = fault_rates or {}
        self.refused = 0  # requests this process was answered 429 by the rate limit
        self.event_sink: EventSink | None = None

    # ------------------------------------------------------------ fault injection

    def inject_fault(self, operation: str, fault: str, *, times: int = 1) -> None:
        """Make the next ``times`` calls of ``operation`` fail with ``fault``.

        ``timeout`` and ``rate_limit`` fail before anything happens; ``lost_response``
        does the work and then fails as a timeout would, as when a network drops a reply.
        """
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        self._faults.setdefault(operation, []).extend([fault] * times)

    def clear_faults(self) -> None:
        self._faults.clear()

    def _take_fault(self, operation: str) -> str | None:
        queue = self._faults.get(operation)
        if queue:
            return queue.pop(0)
        if operation == "create_charge" and self._fault_rates:
            draw = random.random()
            for fault, rate in self._fault_rates.items():
                if draw < rate:
                    return fault
                draw -= rate
        return None

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[SandboxStore]:
        async with driver_transaction(self._engine) as raw:
            store = self._store(raw)
            yield store
            await store.flush()

    def _store(self, raw: Any) -> SandboxStore:
        return SandboxStore(raw, self._engine.dialect.name, self._clock,
                            statement_count(self._engine))  # fmt: skip

    async def _idempotent(
        self, operation: str, key: str, params: dict[str, Any],
        work: Callable[[SandboxStore], Awaitable[dict[str, Any]]], *, reads: tuple[str, ...] = (),
    ) -> dict[str, Any]:  # fmt: skip
        """Run ``work`` once per key; a replay returns the first outcome (success or error).

        ``reads`` are the ids ``work`` will read: they are locked and read in the same query
        as the key's record.
        """
        fault = self._take_fault(operation)
        if fault == "timeout":
            raise GatewayTimeout("The sandbox timed out (injected fault).")
        if fault == "rate_limit":
            raise GatewayRateLimited("Too many requests (injected fault).")
        if self._limit is not None and not await self._limit.try_take():
            self.refused += 1
            raise GatewayRateLimited("Too many requests: the sandbox's rate limit.")
        digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
        idem_id = f"idem:{operation}:{key}"
        async with self._tx() as store:
            await store.load([idem_id, *reads], lock=True)
            seen = await store.get("idempotency", idem_id)
            if seen is not None:
                if seen["digest"] != digest:
                    raise IdempotencyKeyInUse(
                        "Keys for idempotent requests can only be used with the same parameters."
                    )
                outcome = seen["outcome"]
            else:
                try:
                    outcome = {"ok": await work(store)}
                except PaymentDeclined as exc:
                    outcome = {"declined": [exc.message, exc.decline_code, exc.code]}
                except PaymentActionRequired as exc:
                    outcome = {"action": exc.message}
                store.add("idempotency", {"id": idem_id, "digest": digest, "outcome": outcome})
        if fault == "lost_response":
            raise GatewayTimeout("The response was lost (injected fault).")
        if "declined" in outcome:
            message, decline_code, code = outcome["declined"]
            raise PaymentDeclined(message, decline_code=decline_code, code=code)
        if "action" in outcome:
            raise PaymentActionRequired(outcome["action"])
        result: dict[str, Any] = outcome["ok"]
        return result

    # ------------------------------------------------------------ tokens and cards

    async def tokenize(self, *, number: str, exp_month: int, exp_year: int, cvc: str = "") -> str:
        """Turn a test card number into a one-time token; the number is not kept."""
        # Only ASCII digits (with spaces or dashes between them) make a card number:
        # str.isdigit() also takes '³' or '٣', which are no digits of a card.
        text = str(number)
        digits = "".join(ch for ch in text if "0" <= ch <= "9")
        card = TEST_CARDS.get(digits) if _CARD_TEXT.fullmatch(text) else None
        if card is None:
            reason = (
                "is not a valid card number"
                if not _CARD_TEXT.fullmatch(text) or not luhn_ok(digits or "1")
                else ("is not one of the sandbox's test cards (use 4242 4242 4242 4242)")
            )
            raise GatewayInvalidRequest(
                f"The card number {reason}; the sandbox never processes real cards.",
                code="invalid_card_number",
            )
        now = self._clock.now()
        if not (1 <= int(exp_month) <= 12) or (int(exp_year), int(exp_month)) < (
            now.year,
            now.month,
        ):
            raise GatewayInvalidRequest("The card's expiry date is in the past or invalid.",
                                        code="invalid_expiry")  # fmt: skip
        fingerprint = hmac.new(self._fingerprint_secret, digits.encode(),
                               hashlib.sha256).hexdigest()[:16]  # fmt: skip
        token = {
            "id": new_id("tok"), "brand": card.brand, "last4": digits[-4:],
            "exp_month": int(exp_month), "exp_year": int(exp_year),
            "fingerprint": fingerprint, "behaviour": card.behaviour,
            "decline_code": card.decline_code, "used": False,
        }  # fmt: skip
        async with driver_transaction(self._engine, single=True) as raw:
            store = self._store(raw)
            store.add("token", token)
            await store.flush()
        return str(token["id"])

    async def create_customer(self, *, email: str, name: str, idempotency_key: str) -> str:
        async def work(store: SandboxStore) -> dict[str, Any]:
            return store.add("customer", {"id": new_id("cus"), "email": email,
                                                "name": name})  # fmt: skip

        customer = await self._idempotent("create_customer", idempotency_key,
                                          {"email": email, "name": name}, work)  # fmt: skip
        return str(customer["id"])

    async def attach_card(
        self, *, customer_id: str, token: str, idempotency_key: str
    ) -> CardDetails:
        async def work(store: SandboxStore) -> dict[str, Any]:
            if await store.get("customer", customer_id) is None:
                raise ResourceMissing("customer")
            tok = await store.get("token", token, lock=True)
            if tok is None:
                raise GatewayInvalidRequest("No such token.", code="token_invalid")
            if tok["used"]:
                raise GatewayInvalidRequest("This token was already used.", code="token_used")
            tok["used"] = True
            store.put("token", tok)
            if tok["behaviour"] == "decline_on_attach":
                raise PaymentDeclined("Your card was declined.", decline_code=tok["decline_code"])
            pm = {k: tok[k] for k in ("brand", "last4", "exp_month", "exp_year", "fingerprint",
                                      "behaviour", "decline_code")}  # fmt: skip
            pm.update(id=new_id("pm"), customer=customer_id, detached=False)
            return store.add("payment_method", pm)

        pm = await self._idempotent("attach_card", idempotency_key,
                                    {"customer": customer_id, "token": token}, work,
                                    reads=(customer_id, token))  # fmt: skip
        return CardDetails(pm["id"], pm["brand"], pm["last4"], pm["exp_month"], pm["exp_year"],
                           pm["fingerprint"])  # fmt: skip

    async def detach_card(self, *, payment_method_id: str) -> None:
        async with self._tx() as store:
            pm = await store.get("payment_method", payment_method_id, lock=True)
            if pm is None:
                raise ResourceMissing("payment method")
            pm["detached"] = True
            store.put("payment_method", pm)

    # ------------------------------------------------------------ charges

    def _result(self, ch: dict[str, Any]) -> ChargeResult:
        return ChargeResult(ch["id"], ch["status"], ch["amount"], ch["amount_captured"],
                            ch["currency"], ch.get("fee"))  # fmt: skip

    async def create_charge(self, request: ChargeRequest) -> ChargeResult:
        params = {k: getattr(request, k) for k in (
            "amount", "currency", "customer_id", "payment_method_id", "capture",
            "off_session", "destination_account_id", "application_fee")}  # fmt: skip

        async def work(store: SandboxStore) -> dict[str, Any]:
            pm = await store.get("payment_method", request.payment_method_id)
            if pm is None or pm["detached"] or pm["customer"] != request.customer_id:
                raise ResourceMissing("payment method for this customer")
            if request.amount <= 0:
                raise GatewayInvalidRequest("Amount must be positive.", code="amount_too_small")
            if pm["behaviour"] == "fail_on_charge":
                raise PaymentDeclined("Your card was declined.", decline_code=pm["decline_code"])
            if pm["behaviour"] == "needs_authentication":
                if request.off_session:
                    raise PaymentDeclined(
                        "This card requires authentication.",
                        decline_code="authentication_required",
                        code="authentication_required",
                    )
                raise PaymentActionRequired("This card requires authentication.")
            captured = request.amount if request.capture else 0
            ch = {
                "id": new_id("ch"), "amount": request.amount, "currency": request.currency,
                "status": "succeeded" if request.capture else "requires_capture",
                "amount_captured": captured, "amount_refunded": 0,
                "fee": self._fee.of(captured) if request.capture else None,
                "application_fee": request.application_fee,
                "destination": request.destination_account_id,
                "customer": request.customer_id, "payment_method": pm["id"],
                "created": self._clock.now().isoformat(), "metadata": request.metadata,
            }  # fmt: skip
            store.add("charge", ch)
            if request.capture:
                self._emit(store, "payment_intent.succeeded", ch)
            return ch

        return self._result(await self._idempotent(
            "create_charge", request.idempotency_key, params, work,
            reads=(request.payment_method_id,)))  # fmt: skip

    async def _read(self, kind: str, obj_id: str) -> dict[str, Any]:
        async with self._tx() as store:
            found = await store.get(kind, obj_id)
        if found is None:
            raise ResourceMissing(kind)
        return found

    async def retrieve_charge(self, *, charge_id: str) -> ChargeResult:
        return self._result(await self._read("charge", charge_id))

    async def charges(self, *, business_id: str) -> list[dict[str, Any]]:
        """The sandbox's dashboard: the charges made for a business (by the ``business`` of
        their metadata), as the gateway holds them; reconciliation compares them with ours."""
        needle = json.dumps({"business": business_id})[1:-1]
        async with transaction(self._sessions) as session:
            rows = await session.execute(
                select(_objects.c.data).where(
                    _objects.c.kind == "charge", _objects.c.data.contains(needle)
                )
            )
            found = [json.loads(data) for data in rows.scalars()]
        return [ch for ch in found if ch.get("metadata", {}).get("business") == business_id]

    async def _held(self, store: SandboxStore, charge_id: str, *, lapsed: bool = False
                    ) -> dict[str, Any]:  # fmt: skip
        """The charge's hold, still to capture or release; ``lapsed``: one older than 7
        days too (it can no longer be captured, but releasing it is what it did itself)."""
        ch = await store.get("charge", charge_id, lock=True)
        if ch is None:
            raise ResourceMissing("charge")
        if ch["status"] != "requires_capture":
            raise GatewayInvalidRequest(
                f"This charge is {ch['status']}; it has no hold.",
                code="charge_already_captured"
                if ch["status"] == "succeeded"
                else "charge_canceled",
            )
        if not lapsed and self._clock.now() - datetime.fromisoformat(ch["created"]) > HOLD_LIFETIME:
            raise GatewayInvalidRequest(
                "The hold expired after 7 days.", code="charge_expired_for_capture"
            )
        return ch

    async def capture(
        self, *, charge_id: str, amount: int, idempotency_key: str,
        application_fee: int | None = None,
    ) -> ChargeResult:  # fmt: skip
        async def work(store: SandboxStore) -> dict[str, Any]:
            ch = await self._held(store, charge_id)
            if not 0 < amount <= ch["amount"]:
                raise GatewayInvalidRequest(
                    "The capture amount exceeds the hold.", code="amount_too_large"
                )
            ch.update(
                status="succeeded",
                amount_captured=amount,
                fee=self._fee.of(amount),
                application_fee=application_fee,
            )
            store.put("charge", ch)
            self._emit(store, "payment_intent.succeeded", ch)
            return ch

        return self._result(
            await self._idempotent(
                "capture",
                idempotency_key,
                {"charge": charge_id, "amount": amount, "fee": application_fee},
                work,
                reads=(charge_id,),
            )
        )

    async def cancel(self, *, charge_id: str, idempotency_key: str) -> ChargeResult:
        async def work(store: SandboxStore) -> dict[str, Any]:
            ch = await self._held(store, charge_id, lapsed=True)
            ch.update(status="canceled")
            store.put("charge", ch)
            self._emit(store, "payment_intent.canceled", ch)
            return ch

        return self._result(
            await self._idempotent(
                "cancel", idempotency_key, {"charge": charge_id}, work, reads=(charge_id,)
            )  # fmt: skip
        )

    async def refund(
        self, *, charge_id: str, amount: int, idempotency_key: str, reason: str = ""
    ) -> RefundResult:
        async def work(store: SandboxStore) -> dict[str, Any]:
            ch = await store.get("charge", charge_id, lock=True)
            if ch is None:
                raise ResourceMissing("charge")
            left = ch["amount_captured"] - ch["amount_refunded"]
            if not 0 < amount <= left:
                raise GatewayInvalidRequest(
                    f"Refund of {amount} exceeds the {left} left to refund.",
                    code="amount_too_large" if left else "charge_already_refunded",
                )
            ch["amount_refunded"] += amount
            store.put("charge", ch)
            re = {
                "id": new_id("re"),
                "amount": amount,
                "currency": ch["currency"],
                "charge": charge_id,
                "status": "succeeded",
                "reason": reason,
            }
            store.add("refund", re)
            self._emit(store, "charge.refund.updated", re)
            return re

        re = await self._idempotent("refund", idempotency_key,
                                    {"charge": charge_id, "amount": amount}, work,
                                    reads=(charge_id,))  # fmt: skip
        return RefundResult(re["id"], re["amount"], re["currency"], re["status"])

    # ------------------------------------------------------------ Connect

    def _account(self, acct: dict[str, Any]) -> AccountResult:
        enabled = acct["status"] == "enabled"
        return AccountResult(acct["id"], acct["status"], enabled, enabled)

    async def create_account(
        self, *, country: str, email: str, idempotency_key: str
    ) -> AccountResult:
        async def work(store: SandboxStore) -> dict[str, Any]:
            return store.add(
                "account",
                {"id": new_id("acct"), "country": country, "email": email, "status": "pending"},
            )

        return self._account(
            await self._idempotent(
                "create_account", idempotency_key, {"country": country, "email": email}, work
            )
        )

    async def onboarding_link(self, *, account_id: str, return_url: str) -> str:
        from urllib.parse import quote

        await self.retrieve_account(account_id=account_id)
        return f"{self._base_url}/sandbox/connect/{account_id}?return_url={quote(return_url)}"

    async def retrieve_account(self, *, account_id: str) -> AccountResult:
        return self._account(await self._read("account", account_id))

    async def complete_onboarding(self, account_id: str) -> AccountResult:
        """What the simulated onboarding page does when the owner submits it."""
        async with self._tx() as store:
            acct = await store.get("account", account_id, lock=True)
            if acct is None:
                raise ResourceMissing("account")
            acct["status"] = "enabled"
            store.put("account", acct)
            self._emit(store, "account.updated", acct)
        await self.deliver_events()
        return self._account(acct)

    async def create_payout(
        self, *, account_id: str | None, amount: int, currency: str, idempotency_key: str
    ) -> PayoutResult:
        async def work(store: SandboxStore) -> dict[str, Any]:
            po = {
                "id": new_id("po"),
                "amount": amount,
                "currency": currency,
                "account": account_id,
                "status": "in_transit",
                "arrival_date": (self._clock.now() + PAYOUT_TRANSIT).date().isoformat(),
            }
            store.add("payout", po)
            store.add("transit", {"id": f"transit:{po['id']}", "payout": po["id"]})
            return po

        po = await self._idempotent(
            "create_payout", idempotency_key, {"account": account_id, "amount": amount}, work
        )
        return PayoutResult(po["id"], po["amount"], po["currency"], po["status"],
                            po.get("arrival_date"))  # fmt: skip

    async def _arrivals(self) -> None:
        """Payouts in transit whose arrival day has come are paid (``payout.paid``)."""
        async with self._tx() as store:
            markers = await store.first_of_kind("transit", 200)
            if not markers:
                return
            await store.load([m["payout"] for m in markers], lock=True)
            today = self._clock.now().date().isoformat()
            for marker in markers:
                po = await store.get("payout", marker["payout"])
                if po is None or po["status"] != "in_transit" or po["arrival_date"] > today:
                    continue
                store.put("payout", {**po, "status": "paid"})
                store.put("arrived", marker)  # no longer in transit
                self._emit(store, "payout.paid", {**po, "status": "paid"})

    # ------------------------------------------------------------ events

    def _emit(self, store: SandboxStore, event_type: str, obj: dict[str, Any]) -> None:
        event = {
            "id": new_id("evt"),
            "type": event_type,
            "created": int(time.time()),
            "data": {"object": obj},
        }
        store.add("event", event)

    async def pending_events(self, limit: int = 100) -> list[dict[str, Any]]:
        async with self._tx() as store:
            return await store.first_of_kind("event", limit)

    async def webhook_secret(self) -> str:
        """The configured secret, else the installation's own: generated at first use and
        kept in the sandbox's store (the first process to store one wins; the others read
        it). Never a public constant: whoever knows the secret can sign events."""
        if self._webhook_secret:
            return self._webhook_secret
        made = {"id": WEBHOOK_SECRET_ID, "secret": f"whsec_{secrets.token_urlsafe(32)}"}
        async with self._tx() as store:
            found = await store.get("setting", WEBHOOK_SECRET_ID)
        if found is None:
            try:
                async with self._tx() as store:
                    store.add("setting", made)
                found = made
            except IntegrityError:  # another process stored its secret first
                async with self._tx() as store:
                    found = await store.get("setting", WEBHOOK_SECRET_ID)
        assert found is not None
        self._webhook_secret = str(found["secret"])
        return self._webhook_secret

    async def deliver_events(self) -> int:
        """Send pending events, signed, to the webhook inbox (as Stripe would POST them);
        a delivered event is kept as ``event_sent``."""
        if self.event_sink is None:
            return 0
        await self._arrivals()
        sent = 0
        secret = await self.webhook_secret()
        while batch := await self.pending_events():
            for event in batch:
                body = json.dumps(event).encode()
                await self.event_sink(body, sign(secret, body, int(time.time())))
                async with self._tx() as store:
                    store.put("event_sent", event)
                sent += 1
        return sent

    async def parse_webhook(self, payload: bytes, signature_header: str) -> GatewayEvent:
        try:
            verify(await self.webhook_secret(), payload, signature_header, now=int(time.time()))
        except SignatureInvalid as exc:
            raise WebhookSignatureInvalid(str(exc)) from None
        return parse_event(payload)
