"""All of the paid meetings' SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update

from fareroom.kit.repository import Repository
from fareroom.models.payment import Payment, PaymentStatus
from fareroom.models.registration import (
    MeetingCode,
    Notification,
    Occurrence,
    PaidMeeting,
    Registration,
    RegistrationItem,
    RegistrationStatus,
)


class RegistrationsRepository(Repository):
    # ------------------------------------------------------------------ paid meetings

    async def paid_meeting(self, business_id: str, paid_id: str, *, lock: bool = False
                           ) -> PaidMeeting | None:  # fmt: skip
        return await self.of_business(PaidMeeting, business_id, paid_id, lock=lock)

    async def paid_for_room(self, room_id: str) -> PaidMeeting | None:
        return await self.session.scalar(select(PaidMeeting).where(PaidMeeting.room_id == room_id))

    async def paid_by_code(self, code: str, *, lock: bool = False) -> PaidMeeting | None:
        stmt = select(PaidMeeting).where(PaidMeeting.code == code)
        if lock:  # registrations of one meeting, one at a time (see RegistrationsService)
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return await self.session.scalar(stmt)

    async def code_taken(self, code: str) -> bool:
        stmt = select(func.count()).where(PaidMeeting.code == code)
        found = await self.session.scalar(stmt) or 0
        stmt2 = select(func.count()).where(MeetingCode.code == code)
        return found + (await self.session.scalar(stmt2) or 0) > 0

    async def paid_meetings(self, business_id: str, *, limit: int, starting_after: str | None
                            ) -> Sequence[PaidMeeting]:  # fmt: skip
        return await self.newest_first(PaidMeeting, business_id, limit=limit,
                                       starting_after=starting_after)  # fmt: skip

    # ------------------------------------------------------------------ occurrences

    async def occurrences(self, paid_id: str, *, lock: bool = False,
                          ids: Sequence[str] | None = None) -> Sequence[Occurrence]:  # fmt: skip
        stmt = (select(Occurrence).where(Occurrence.paid_meeting_id == paid_id)
                .order_by(Occurrence.starts_at, Occurrence.id))  # fmt: skip
        if ids is not None:
            stmt = stmt.where(Occurrence.id.in_(ids))
        if lock:  # in one order (their starts), so two registrations never deadlock
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return (await self.session.scalars(stmt)).all()

    async def occurrence(self, paid_id: str, occurrence_id: str, *, lock: bool = False
                         ) -> Occurrence | None:  # fmt: skip
        stmt = select(Occurrence).where(Occurrence.paid_meeting_id == paid_id,
                                        Occurrence.id == occurrence_id)  # fmt: skip
        if lock:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return await self.session.scalar(stmt)

    async def booked(self, paid_id: str) -> set[str]:
        """The occurrences someone holds or held a seat in (their rows are kept)."""
        stmt = (select(RegistrationItem.occurrence_id).distinct()
                .join(Occurrence, Occurrence.id == RegistrationItem.occurrence_id)
                .where(Occurrence.paid_meeting_id == paid_id))  # fmt: skip
        return set((await self.session.scalars(stmt)).all())

    async def delete_occurrences(self, ids: Sequence[str]) -> None:
        for row in (await self.session.scalars(select(Occurrence)
                                               .where(Occurrence.id.in_(ids)))).all():  # fmt: skip
            await self.session.delete(row)
        await self.session.flush()

    # ------------------------------------------------------------------ registrations

    async def registration(self, business_id: str, registration_id: str, *, lock: bool = False
                           ) -> Registration | None:  # fmt: skip
        return await self.of_business(Registration, business_id, registration_id, lock=lock)

    async def registration_by_id(self, registration_id: str, *, lock: bool = False
                                 ) -> Registration | None:  # fmt: skip
        stmt = select(Registration).where(Registration.id == registration_id)
        if lock:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return await self.session.scalar(stmt)

    async def registration_by_request(self, paid_id: str, request_hash: str
                                      ) -> Registration | None:  # fmt: skip
        stmt = select(Registration).where(Registration.paid_meeting_id == paid_id,
                                          Registration.request_hash == request_hash)  # fmt: skip
        return await self.session.scalar(stmt)

    async def registrations(self, business_id: str, *, limit: int, starting_after: str | None,
                            paid_id: str | None = None, status: str | None = None,
                            occurrence_id: str | None = None
                            ) -> Sequence[Registration]:  # fmt: skip
        where = []
        if paid_id:
            where.append(Registration.paid_meeting_id == paid_id)
        if status:
            where.append(Registration.status == status)
        if occurrence_id:
            where.append(Registration.id.in_(select(RegistrationItem.registration_id).where(
                RegistrationItem.occurrence_id == occurrence_id)))  # fmt: skip
        return await self.newest_first(Registration, business_id, *where, limit=limit,
                                       starting_after=starting_after)  # fmt: skip

    async def items(self, registration_id: str) -> Sequence[RegistrationItem]:
        """A registration's items in the order of their meetings."""
        stmt = (select(RegistrationItem)
                .join(Occurrence, Occurrence.id == RegistrationItem.occurrence_id)
                .where(RegistrationItem.registration_id == registration_id)
                .order_by(Occurrence.starts_at))  # fmt: skip
        return (await self.session.scalars(stmt)).all()

    async def seated_in(self, occurrence_id: str) -> Sequence[Registration]:
        """Registrations with an item of this occurrence (any state)."""
        stmt = (select(Registration)
                .join(RegistrationItem, RegistrationItem.registration_id == Registration.id)
                .where(RegistrationItem.occurrence_id == occurrence_id)
                .order_by(Registration.id))  # fmt: skip
        return (await self.session.scalars(stmt)).all()

    async def held_in_ended(self, paid_id: str, before: datetime, *, limit: int
                            ) -> Sequence[tuple[Occurrence, Registration]]:  # fmt: skip
        """(occurrence, registration) for each card still held for a meeting that started
        before ``before``: the no-shows the host has still to mark, oldest meeting first."""
        stmt = (select(Occurrence, Registration)
                .join(RegistrationItem, RegistrationItem.occurrence_id == Occurrence.id)
                .join(Registration, Registration.id == RegistrationItem.registration_id)
                .where(Occurrence.paid_meeting_id == paid_id, Occurrence.starts_at <= before,
                       Registration.status == RegistrationStatus.HELD,
                       RegistrationItem.cancelled.is_(False))
                .order_by(Occurrence.starts_at, Registration.id).limit(limit))  # fmt: skip
        return [(o, r) for o, r in (await self.session.execute(stmt)).all()]

    async def cancelled_seats(self, *, limit: int) -> Sequence[tuple[str, str, str]]:
        """(business, registration, occurrence) of the seats still held in cancelled
        meetings."""
        stmt = (select(Registration.business_id, Registration.id, Occurrence.id)
                .join(RegistrationItem, RegistrationItem.registration_id == Registration.id)
                .join(Occurrence, Occurrence.id == RegistrationItem.occurrence_id)
                .where(Occurrence.cancelled_at.is_not(None),
                       RegistrationItem.cancelled.is_(False))
                .order_by(Registration.id).limit(limit))  # fmt: skip
        return [(b, r, o) for b, r, o in (await self.session.execute(stmt)).all()]

    async def half_paid(self, before: datetime, *, limit: int) -> Sequence[str]:
        """Pending registrations whose attempt's card is committed but no payment recorded,
        untouched since ``before``."""
        stmt = (select(Registration.id)
                .where(Registration.status == RegistrationStatus.PENDING,
                       Registration.attempt_card_id.is_not(None),
                       Registration.payment_id.is_(None),
                       Registration.updated_at <= before)
                .order_by(Registration.updated_at).limit(limit))  # fmt: skip
        return (await self.session.scalars(stmt)).all()

    async def expired(self, now: datetime, *, limit: int) -> Sequence[str]:
        stmt = (select(Registration.id)
                .where(Registration.status == RegistrationStatus.PENDING,
                       Registration.expires_at <= now)
                .order_by(Registration.expires_at).limit(limit))  # fmt: skip
        return (await self.session.scalars(stmt)).all()

    async def holds_settled_elsewhere(self, *, limit: int) -> Sequence[tuple[Registration, str]]:
        """Held registrations whose hold the gateway captured or released without us (a
        verified webhook updated the payment): (registration, the payment's status)."""
        stmt = (select(Registration, Payment.status)
                .join(Payment, Payment.id == Registration.payment_id)
                .where(Registration.status == RegistrationStatus.HELD,
                       Payment.status != PaymentStatus.REQUIRES_CAPTURE,
                       Registration.failure.is_(None))
                .order_by(Registration.id).limit(limit))  # fmt: skip
        return [(r, str(st)) for r, st in (await self.session.execute(stmt)).all()]

    # ------------------------------------------------------------------ codes

    async def codes(self, registration_id: str) -> Sequence[MeetingCode]:
        stmt = (select(MeetingCode).where(MeetingCode.registration_id == registration_id)
                .order_by(MeetingCode.code))  # fmt: skip
        return (await self.session.scalars(stmt)).all()

    async def code(self, code: str) -> MeetingCode | None:
        return await self.session.scalar(select(MeetingCode).where(MeetingCode.code == code))

    async def revoke_codes(self, registration_id: str, now: datetime, *,
                           occurrence_id: str | None = None) -> None:  # fmt: skip
        stmt = update(MeetingCode).where(MeetingCode.registration_id == registration_id,
                                         MeetingCode.revoked_at.is_(None))  # fmt: skip
        if occurrence_id is not None:
            stmt = stmt.where(MeetingCode.occurrence_id == occurrence_id)
        await self.session.execute(stmt.values(revoked_at=now))

    # ------------------------------------------------------------------ notifications

    async def notifications(self, business_id: str, user_id: str, *, limit: int,
                            starting_after: str | None, unread: bool = False
                            ) -> Sequence[Notification]:  # fmt: skip
        where = [Notification.user_id == user_id]
        if unread:
            where.append(Notification.read_at.is_(None))
        return await self.newest_first(Notification, business_id, *where, limit=limit,
                                       starting_after=starting_after)  # fmt: skip

    async def unread(self, business_id: str, user_id: str) -> int:
        stmt = select(func.count()).where(Notification.business_id == business_id,
                                          Notification.user_id == user_id,
                                          Notification.read_at.is_(None))  # fmt: skip
        return int(await self.session.scalar(stmt) or 0)

    async def mark_read(self, business_id: str, user_id: str, ids: Sequence[str] | None,
                        now: datetime) -> None:  # fmt: skip
        stmt = update(Notification).where(Notification.business_id == business_id,
                                          Notification.user_id == user_id,
                                          Notification.read_at.is_(None))  # fmt: skip
        if ids is not None:
            stmt = stmt.where(Notification.id.in_(ids))
        await self.session.execute(stmt.values(read_at=now))
