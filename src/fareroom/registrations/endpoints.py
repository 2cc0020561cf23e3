"""Paid meetings over HTTP: the business's API (settings, registrations, refunds, cancelled
meetings, no-shows, notifications) and the public registration API that the page
``/r/<code>`` and the embed use, ``/api/v1/register/<code>/…`` (docs/paid-meetings.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse

from fareroom.accounts.service import Caller
from fareroom.bootstrap import Services
from fareroom.gateway.base import GatewayError, as_fareroom_error
from fareroom.http import (
    Page,
    PathId,
    api_key,
    context,
    page_params,
    paginated,
    peer_address,
    read,
    write,
)
from fareroom.kit.errors import FareroomError
from fareroom.kit.fields import ID
from fareroom.meetings.service import display_code
from fareroom.models.registration import Pricing, RefundRule, RegistrationStatus
from fareroom.openapi import problems
from fareroom.registrations.schemas import (
    CancelIn,
    CodeOut,
    ItemOut,
    NoShowsIn,
    NoShowsOut,
    NotificationOut,
    OccurrenceOut,
    PaidIn,
    PaidOut,
    PayIn,
    ReadIn,
    RefundIn,
    RegisterIn,
    RegistrationOut,
)
from fareroom.registrations.service import (
    OccurrenceView,
    PaidSettings,
    PaidView,
    RegistrationsService,
    RegistrationView,
)

router = APIRouter(tags=["paid meetings"], responses=problems(401, 404, 422))
_TOKEN = Header(alias="X-Registration-Token", min_length=10, max_length=120,
                pattern=r"^[A-Za-z0-9_]+\.[A-Za-z0-9_-]+$",
                description="The registrant's token, from the registration's answer or "
                            "mail")  # fmt: skip
STATUSES = "|".join(s.value for s in RegistrationStatus)
PUBLIC = "/api/v1/register/{code}"  # the registration page's API (no key: the public's)
# A paid meeting's code as links carry it (letters, digits, dashes): nothing else reaches SQL.
PageCode = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9-]+$")]


def occurrence_out(v: OccurrenceView) -> OccurrenceOut:
    o = v.occurrence
    return OccurrenceOut(id=o.id, starts_at=o.starts_at, seats_left=v.seats_left, open=v.open,
                         why_closed=v.why_closed, cancelled=o.cancelled_at is not None)  # fmt: skip


def paid_out(v: PaidView, base_url: str) -> PaidOut:
    p, r = v.paid, v.room
    return PaidOut(
        id=p.id, room_id=r.id, code=p.code, url=f"{base_url.rstrip('/')}/r/{p.code}",
        price=p.price, currency=p.currency, pricing=p.pricing.value, seats=p.seats,
        closes_minutes=p.closes_minutes, refund_rule=p.refund_rule.value,
        refund_window_minutes=p.refund_window_minutes, refund_percent=p.refund_percent,
        refund_policy=RegistrationsService.policy_text(p), no_show_hold=p.no_show_hold,
        notify_email=p.notify_email, open=p.open, topic=r.topic,
        duration_minutes=r.duration_minutes, time_zone=r.time_zone, rrule=r.rrule,
        occurrences=[occurrence_out(o) for o in v.occurrences], warning=v.warning)  # fmt: skip


def registration_out(v: RegistrationView) -> RegistrationOut:
    r = v.registration
    return RegistrationOut(
        id=r.id, paid_meeting_id=r.paid_meeting_id, name=r.name, email=r.email,
        status=r.status.value, amount=r.amount, currency=r.currency, payment_id=r.payment_id,
        refunded=v.refunded,
        failure=r.failure, expires_at=r.expires_at, created_at=r.created_at, token=v.token,
        items=[ItemOut(occurrence_id=i.occurrence_id, amount=i.amount, cancelled=i.cancelled)
               for i in v.items],
        codes=[CodeOut(code=c.code, display=display_code(c.code), occurrence_id=c.occurrence_id,
                       revoked=c.revoked_at is not None) for c in v.codes])  # fmt: skip


def _base(request: Request) -> str:
    return context(request).settings.base_url


def _settings(body: PaidIn) -> PaidSettings:
    return PaidSettings(price=body.price, currency=body.currency, pricing=Pricing(body.pricing),
                        seats=body.seats, closes_minutes=body.closes_minutes,
                        refund_rule=RefundRule(body.refund_rule),
                        refund_window_minutes=body.refund_window_minutes,
                        refund_percent=body.refund_percent, no_show_hold=body.no_show_hold,
                        notify_email=body.notify_email, open=body.open)  # fmt: skip


# ---------------------------------------------------------------------- the business's API


@router.put("/api/v1/meeting-rooms/{room_id}/paid", response_model=PaidOut,
            responses=problems(409))  # fmt: skip
async def make_paid(room_id: PathId, body: PaidIn, request: Request,
                    key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    """Make a scheduled room a paid meeting, or change its paid settings. Refused with
    ``connect_required`` until the business's connected account takes charges."""

    async def run(s: Services, caller: Caller, _: str | None) -> PaidOut:
        view = await s.registrations.make_paid(caller.business, room_id, _settings(body))
        return paid_out(view, _base(request))

    return await write(request, key, body, prefix="pm", fn=run, status=200)


@router.get("/api/v1/paid-meetings", response_model=dict[str, Any])
async def list_paid(request: Request, key: str = Depends(api_key),
                    page: Page = Depends(page_params)) -> dict[str, Any]:  # fmt: skip
    async def run(s: Services, caller: Caller) -> list[PaidOut]:
        found = await s.registrations.paid_meetings(caller.business_id, limit=page.limit + 1,
                                                    starting_after=page.starting_after)  # fmt: skip
        return [paid_out(await s.registrations.paid_meeting(caller.business_id, p.id),
                         _base(request)) for p in found]  # fmt: skip

    return paginated(await read(request, key, run), page, lambda p: p, lambda p: p.id)


@router.get("/api/v1/paid-meetings/{paid_id}", response_model=PaidOut)
async def get_paid(paid_id: PathId, request: Request, key: str = Depends(api_key)) -> PaidOut:
    async def run(s: Services, caller: Caller) -> PaidOut:
        return paid_out(await s.registrations.paid_meeting(caller.business_id, paid_id),
                        _base(request))  # fmt: skip

    return await read(request, key, run)


@router.post("/api/v1/paid-meetings/{paid_id}/occurrences/{occurrence_id}/cancel",
             response_model=OccurrenceOut, responses=problems(409))  # fmt: skip
async def cancel_occurrence(paid_id: PathId, occurrence_id: PathId, request: Request,
                            key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    """Cancel one meeting: its registrants are refunded (or their holds released)."""

    async def run(s: Services, caller: Caller, _: str | None) -> OccurrenceOut:
        return occurrence_out(await s.registrations.cancel_occurrence(
            caller.business, paid_id, occurrence_id))  # fmt: skip

    async def then(done: OccurrenceOut) -> OccurrenceOut:
        await context(request).settle_cancellations()  # each registrant in its own
        return done

    return await write(request, key, None, prefix="occ", fn=run, status=200, then=then)


@router.post("/api/v1/paid-meetings/{paid_id}/occurrences/{occurrence_id}/no-shows",
             response_model=NoShowsOut, responses=problems(409))  # fmt: skip
async def no_shows(paid_id: PathId, occurrence_id: PathId, body: NoShowsIn, request: Request,
                   key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    """After a meeting with a no-show fee: capture the listed registrants' holds, release
    everyone else's, each in a transaction of its own (``failed``: those the gateway
    refused, still held; sending the same list again retries them)."""
    caller_of: list[Caller] = []

    async def run(s: Services, caller: Caller, _: str | None) -> NoShowsOut:
        await s.registrations.no_show_plan(
            caller.business, paid_id, occurrence_id, body.no_shows
        )  # checked here, so errors are 4xx
        caller_of.append(caller)
        return NoShowsOut(registrations=[], failed=0)

    async def then(_: NoShowsOut) -> NoShowsOut:
        done, failed = await context(request).mark_no_shows(
            caller_of[0].business, paid_id, occurrence_id, body.no_shows)  # fmt: skip
        return NoShowsOut(registrations=[registration_out(v) for v in done], failed=failed)

    return await write(request, key, body, prefix="nos", fn=run, status=200, then=then)


@router.get("/api/v1/registrations", response_model=dict[str, Any])
async def list_registrations(
    request: Request, key: str = Depends(api_key), page: Page = Depends(page_params),
    paid_meeting_id: str | None = Query(None, max_length=40, pattern=ID),
    occurrence_id: str | None = Query(None, max_length=40, pattern=ID),
    status: str | None = Query(None, pattern=f"^({STATUSES})$"),
) -> dict[str, Any]:  # fmt: skip
    async def run(s: Services, caller: Caller) -> list[RegistrationView]:
        return await s.registrations.registrations(
            caller.business_id, limit=page.limit + 1, starting_after=page.starting_after,
            paid_id=paid_meeting_id, status=status, occurrence_id=occurrence_id)  # fmt: skip

    return paginated(await read(request, key, run), page, registration_out,
                     lambda v: v.registration.id)  # fmt: skip


@router.get("/api/v1/registrations/{registration_id}", response_model=RegistrationOut)
async def get_registration(registration_id: PathId, request: Request,
                           key: str = Depends(api_key)) -> RegistrationOut:  # fmt: skip
    async def run(s: Services, caller: Caller) -> RegistrationOut:
        return registration_out(await s.registrations.registration(caller.business_id,
                                                                   registration_id))  # fmt: skip

    return await read(request, key, run)


@router.post("/api/v1/registrations/{registration_id}/refunds", response_model=RegistrationOut,
             responses=problems(409))  # fmt: skip
async def refund(registration_id: PathId, body: RefundIn, request: Request,
                 key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    """One click: refund all that is left (no ``amount``) or part of it, with a reason. With
    an ``Idempotency-Key`` a form sent twice refunds once."""

    async def run(s: Services, caller: Caller, rid: str | None) -> RegistrationOut:
        return registration_out(await s.registrations.refund(
            caller.business, registration_id, amount=body.amount, reason=body.reason,
            refund_id=rid))  # fmt: skip

    return await write(request, key, body, prefix="re", fn=run, status=200)


@router.get("/api/v1/users/{user_id}/notifications", response_model=dict[str, Any])
async def notifications(user_id: PathId, request: Request, key: str = Depends(api_key),
                        page: Page = Depends(page_params), unread: bool = False
                        ) -> dict[str, Any]:  # fmt: skip
    """A user's notifications (registrations of the meetings they host), newest first, with
    the unread count."""

    async def run(s: Services, caller: Caller) -> tuple[list[NotificationOut], int]:
        found, count = await s.registrations.notifications(
            caller.business_id, user_id, limit=page.limit + 1,
            starting_after=page.starting_after, unread=unread)  # fmt: skip
        return [NotificationOut(id=n.id, kind=n.kind, title=n.title, body=n.body,
                                ref_id=n.ref_id, read=n.read_at is not None,
                                created_at=n.created_at) for n in found], count  # fmt: skip

    found, count = await read(request, key, run)
    return {**paginated(found, page, lambda n: n, lambda n: n.id), "unread": count}


@router.post("/api/v1/users/{user_id}/notifications/read", response_model=dict[str, int])
async def mark_read(user_id: PathId, body: ReadIn, request: Request,
                    key: str = Depends(api_key)) -> JSONResponse:  # fmt: skip
    """Mark these notifications (none named: all) read; answers the unread count."""

    async def run(s: Services, caller: Caller, _: str | None) -> dict[str, int]:
        return {"unread": await s.registrations.mark_read(caller.business_id, user_id, body.ids)}

    return await write(request, key, body, prefix="ntf", fn=run, status=200)


# ---------------------------------------------------------------------- the public API


@router.get(PUBLIC, response_model=PaidOut, tags=["registration"])
async def public_meeting(code: PageCode, request: Request) -> PaidOut:
    """What the registration page shows: the meeting, its open occurrences, seats left."""
    async with context(request).unit_of_work() as s:
        return paid_out(await s.registrations.page(code[:16]), _base(request))


async def _pay_after(request: Request, registration_id: str, token: str,
                     card_token: str) -> RegistrationOut:  # fmt: skip
    """Pay in transactions of their own, after the seats were taken in theirs (no seat lock
    is held while the gateway is asked): the card attempt first, committed, then the
    charge; a refused card is committed, then raised."""
    ctx = context(request)
    async with ctx.unit_of_work() as s:
        view = await s.registrations.pay_prepare(registration_id, token, card_token=card_token,
                                                 address=peer_address(request))  # fmt: skip
    if view.failure is None and view.ready:
        async with ctx.unit_of_work() as s:
            view = await s.registrations.pay_charge(registration_id, token)
    if view.failure is not None:
        raise view.failure
    return registration_out(view)


@router.post(f"{PUBLIC}/registrations", status_code=201, response_model=RegistrationOut,
             tags=["registration"], responses=problems(402, 409, 429))  # fmt: skip
async def register(code: PageCode, body: RegisterIn, request: Request) -> RegistrationOut:
    """Register and pay: the seats are taken (or ``sold_out`` refused) before any charge,
    then the card is charged. The answer's ``token`` (``<id>.<request_key>``) pays again
    (after a refused card) and cancels. The same ``request_key`` again is the same
    registration: a lost answer or a double submit registers and charges once."""
    async with context(request).unit_of_work() as s:
        view = await s.registrations.register(
            code, name=body.name, email=body.email, occurrence_ids=body.occurrences,
            terms=body.terms, request_key=body.request_key,
            address=peer_address(request))  # fmt: skip
        made = registration_out(view)
    assert view.token is not None
    try:
        paid = await _pay_after(request, made.id, view.token, body.card_token)
    except (FareroomError, GatewayError) as exc:  # it stays, pending: the page pays again
        err = as_fareroom_error(exc) if isinstance(exc, GatewayError) else exc
        err.details.update(registration=made.model_dump(mode="json"))
        raise err from None
    return paid.model_copy(update={"token": view.token})


@router.get(f"{PUBLIC}/registrations/{{registration_id}}", response_model=RegistrationOut,
            tags=["registration"])  # fmt: skip
async def my_registration(code: PageCode, registration_id: PathId, request: Request,
                          token: str = _TOKEN) -> RegistrationOut:  # fmt: skip
    async with context(request).unit_of_work() as s:
        return registration_out(await s.registrations.registrant_view(registration_id, token))


@router.post(f"{PUBLIC}/registrations/{{registration_id}}/pay", response_model=RegistrationOut,
             tags=["registration"], responses=problems(402, 409, 429))  # fmt: skip
async def pay(code: PageCode, registration_id: PathId, body: PayIn, request: Request,
              token: str = _TOKEN) -> RegistrationOut:  # fmt: skip
    """Pay a pending registration: once, however often it is sent."""
    return await _pay_after(request, registration_id, token, body.card_token)


@router.post(f"{PUBLIC}/registrations/{{registration_id}}/cancel",
             response_model=RegistrationOut, tags=["registration"],
             responses=problems(409))  # fmt: skip
async def cancel(code: PageCode, registration_id: PathId, body: CancelIn, request: Request,
                 token: str = _TOKEN) -> RegistrationOut:  # fmt: skip
    """The registrant cancels (all, or one occurrence): refunded by the policy."""
    async with context(request).unit_of_work() as s:
        return registration_out(await s.registrations.cancel(
            registration_id, token, occurrence_id=body.occurrence_id))  # fmt: skip
