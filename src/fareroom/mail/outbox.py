"""The mail outbox: a mail is written in the same transaction as what it tells (a receipt
with its payment), and sent by the worker afterwards, at least once.

Senders: ``.eml`` files in ``FAREROOM_MAIL_DIR`` (the default: nothing leaves the machine),
or SMTP when ``FAREROOM_SMTP_HOST`` is set. A mail is marked sent after its sender
returned; a crash in between sends it again on the next round (at least once).
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fareroom.kit.clock import Clock
from fareroom.kit.db import transaction
from fareroom.kit.ids import new_id
from fareroom.mail.repository import MailRepository
from fareroom.models.mail import MailKind, OutboxMail

log = logging.getLogger("fareroom.mail")
MAX_ATTEMPTS = 10


class Outbox:
    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self._repo = MailRepository(session)
        self._clock = clock

    async def queue(
        self, *, business_id: str | None, to: str, subject: str, body: str, kind: MailKind,
        reference: str, sender_name: str | None = None, unique_key: str | None = None,
        calendar: str | None = None,
    ) -> OutboxMail:  # fmt: skip
        """Write a mail to send. With ``unique_key``, a mail already written under that key
        is returned instead (the unique index makes a concurrent second one fail)."""
        if unique_key is not None and (found := await self._repo.by_unique_key(unique_key)):
            return found
        mail = OutboxMail(id=new_id("mail"), business_id=business_id, to=to, subject=subject,
                          body=body, kind=kind, reference=reference, sender_name=sender_name,
                          unique_key=unique_key, created_at=self._clock.now(),
                          attempts=0, calendar=calendar)  # fmt: skip
        await self._repo.add(mail)
        return mail

    async def for_reference(self, reference: str) -> Sequence[OutboxMail]:
        return await self._repo.for_reference(reference)


def sender_of(mail: OutboxMail, sender: str) -> str:
    """The From line: the configured sender, or for a business's mail its name "via" the
    configured sender's name, at the configured address."""
    if not mail.sender_name:
        return sender
    name, address = parseaddr(sender)
    business = " ".join(mail.sender_name.split())  # one line, whatever the name holds
    return formataddr((f"{business} via {name or 'Fareroom'}", address))


def message(mail: OutboxMail, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender_of(mail, sender)
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    msg["Date"] = formatdate(mail.created_at.timestamp(), usegmt=True)
    msg["Message-ID"] = make_msgid(idstring=mail.id, domain="fareroom.local")
    msg.set_content(mail.body)
    if mail.calendar:
        msg.add_attachment(mail.calendar.encode(), maintype="text", subtype="calendar",
                           filename="invitation.ics", params={"method": "PUBLISH"})  # fmt: skip
    return msg


class Sender(Protocol):
    async def send(self, msg: EmailMessage, mail_id: str) -> None: ...


class FileSender:
    """Writes each mail as ``<id>.eml``: readable, and nothing leaves the machine.

    The write runs on the event loop's thread: a file of a few kilobytes, written without
    ``fsync`` (as it always was), lands in the page cache in microseconds, less than the hop
    to a worker thread and back costs."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _write(self, data: bytes, mail_id: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{mail_id}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # whole or not at all

    async def send(self, msg: EmailMessage, mail_id: str) -> None:
        self._write(bytes(msg), mail_id)


class SmtpSender:
    def __init__(self, host: str, port: int, *, username: str | None = None,
                 password: str | None = None, starttls: bool = False) -> None:  # fmt: skip
        self.host, self.port = host, port
        self.username, self.password, self.starttls = username, password, starttls

    def _send(self, msg: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=30) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(msg)

    async def send(self, msg: EmailMessage, mail_id: str) -> None:
        await asyncio.to_thread(self._send, msg)


async def deliver_pending(
    sessions: async_sessionmaker[AsyncSession], sender: Sender, clock: Clock, *,
    mail_from: str, limit: int = 100,
) -> int:  # fmt: skip
    """Send unsent mails, oldest first; returns how many were sent."""
    async with transaction(sessions) as session:
        pending = await MailRepository(session).unsent(attempts_below=MAX_ATTEMPTS, limit=limit)
        session.expunge_all()
    sent = 0
    for mail in pending:
        try:
            await sender.send(message(mail, mail_from), mail.id)
        except (OSError, smtplib.SMTPException):
            log.warning("mail %s not sent; will retry", mail.id, exc_info=True)
            sent_at = None
        else:
            sent += 1
            sent_at = clock.now()
        async with transaction(sessions) as session:
            await MailRepository(session).record_attempt(mail.id, sent_at=sent_at)
    return sent
