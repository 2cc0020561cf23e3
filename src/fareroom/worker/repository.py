"""The worker's one look at what its round has to do (all its SQL).

``due`` asks, in one statement, whether each job of the round would find anything: each
flag is the ``WHERE`` of that job's own first query (``MeteringRepository.timed_out`` and
``stale_collections``, ``ChatRepository.rooms_with_waiting``, ``MailRepository.unsent``),
and ``tests/worker/test_round.py`` holds them to it. A round with nothing due costs this
one query instead of one transaction per job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select

from fareroom.kit.repository import Repository
from fareroom.models.chat import ChatVisit, VisitStatus
from fareroom.models.mail import OutboxMail
from fareroom.models.metering import ChatSession, Collection, CollectionStatus


@dataclass(frozen=True)
class Due:
    """Which of the round's jobs have work."""

    timeouts: bool  # a session a party has been offline from for too long
    stale: bool  # a collection pending since before the reconciliation delay
    waiting: bool  # a client waiting in a room's queue (routing, watching the queues)
    mail: bool  # a mail not sent yet, with attempts left


class WorkerRepository(Repository):
    async def due(self, now: datetime, *, stale_before: datetime,
                  mail_attempts_below: int) -> Due:  # fmt: skip
        stmt = select(
            exists().where(ChatSession.timeout_at < now),
            exists().where(Collection.status == CollectionStatus.PENDING,
                           Collection.created_at <= stale_before),
            exists().where(ChatVisit.status == VisitStatus.WAITING),
            exists().where(OutboxMail.sent_at.is_(None),
                           OutboxMail.attempts < mail_attempts_below),
        )  # fmt: skip
        row = (await self.session.execute(stmt)).one()
        return Due(*(bool(flag) for flag in row))
