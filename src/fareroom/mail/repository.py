"""All SQL of the mail outbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update

from fareroom.kit.repository import Repository
from fareroom.models.mail import OutboxMail


class MailRepository(Repository):
    async def by_unique_key(self, unique_key: str) -> OutboxMail | None:
        stmt = select(OutboxMail).where(OutboxMail.unique_key == unique_key)
        return await self.session.scalar(stmt)

    async def for_reference(self, reference: str) -> Sequence[OutboxMail]:
        stmt = select(OutboxMail).where(OutboxMail.reference == reference).order_by(OutboxMail.id)
        return (await self.session.scalars(stmt)).all()

    async def unsent(self, *, attempts_below: int, limit: int) -> Sequence[OutboxMail]:
        """Mails not sent yet and tried fewer than ``attempts_below`` times, oldest first."""
        stmt = (select(OutboxMail)
                .where(OutboxMail.sent_at.is_(None), OutboxMail.attempts < attempts_below)
                .order_by(OutboxMail.id).limit(limit))  # fmt: skip
        return (await self.session.scalars(stmt)).all()

    async def record_attempt(self, mail_id: str, *, sent_at: datetime | None) -> None:
        """Count one attempt to send the mail; ``sent_at`` when it succeeded."""
        values: dict[str, object] = {"attempts": OutboxMail.attempts + 1}
        if sent_at is not None:
            values["sent_at"] = sent_at
        await self.session.execute(
            update(OutboxMail).where(OutboxMail.id == mail_id).values(**values)
        )
