"""A meeting's chat: each message checked, kept, then sent (docs/meetings.md).

A message is relayed only once it is committed, as before; what changed is how it is
committed. The meeting's socket used to open a transaction per message that locked the
room and read the sender back, and that commit cost about twenty times the relaying
(``bench/meetings.py``). Now:

- **who may say it** is the socket's own knowledge, which the server keeps: the page is
  admitted (``MeetingPage.admitted``) and a private message's addressee is in the page's
  roster, which the hub's ``joined`` / ``left`` keep current (a removed page is closed
  before it can send again). Nothing of it comes from the browser.
- **keeping it** is a group commit, one per process: the messages that arrive while a
  batch is being written wait for the next batch, and each batch is one transaction, so
  under load a commit carries many messages and an idle meeting's message is written at
  once. Each sender waits for its own message's batch; a batch that fails fails each of
  its messages (the senders are told), and the next batch goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fareroom.kit.clock import Clock
from fareroom.kit.errors import ValidationFailed
from fareroom.kit.ids import new_id
from fareroom.kit.ratelimit import Limit, RateLimiter, check_all
from fareroom.models.meeting import MeetingMessage

MAX_TEXT = 4000
MAX_CIPHER = 8192

UnitOfWork = Callable[[], AbstractAsyncContextManager[Any]]


def compose(room_id: str, sender_id: str, sender_name: str, *, text: str | None,
            cipher: str | None, iv: str | None, to: str | None, ref: str | None,
            clock: Clock) -> MeetingMessage:  # fmt: skip
    """The message, or why it is not one. An encrypted meeting's messages are ciphertext
    (``cipher``, ``iv``), which is all we keep."""
    if cipher is not None:
        if not cipher or len(cipher) > MAX_CIPHER or not iv or len(iv) > 32:
            raise ValidationFailed(f"An encrypted message has a cipher of at most "
                                   f"{MAX_CIPHER} characters and an iv.",
                                   code="invalid_message")  # fmt: skip
        text = None
    elif not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        raise ValidationFailed(f"A message has 1 to {MAX_TEXT} characters.",
                               code="invalid_message")  # fmt: skip
    elif "\x00" in text:
        raise ValidationFailed("A message may not contain NUL characters.",
                               code="invalid_message")  # fmt: skip
    return MeetingMessage(id=new_id("mmsg"), room_id=room_id, sender_id=sender_id,
                          sender_name=sender_name, to_id=to, text=text, cipher=cipher, iv=iv,
                          ref=ref, created_at=clock.now())  # fmt: skip


class MeetingChat:
    """The process's meeting chat: checks, the sender's rate limit, and the group commit."""

    def __init__(self, unit_of_work: UnitOfWork, clock: Clock, limiter: RateLimiter,
                 limit: Limit) -> None:  # fmt: skip
        self._unit_of_work = unit_of_work
        self._clock = clock
        self._limiter = limiter
        self._limit = limit
        self._waiting: list[tuple[MeetingMessage, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def say(self, room_id: str, sender_id: str, sender_name: str, *, text: str | None,
                  cipher: str | None, iv: str | None, to: str | None,
                  ref: str | None) -> MeetingMessage:  # fmt: skip
        msg = compose(room_id, sender_id, sender_name, text=text, cipher=cipher, iv=iv, to=to,
                      ref=ref, clock=self._clock)  # fmt: skip
        await check_all(self._limiter, [(f"meeting-chat:{sender_id}", self._limit)],
                        "You are sending messages too fast.")  # fmt: skip
        kept: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((msg, kept))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())
        await kept
        return msg

    async def _write(self) -> None:
        batch: list[tuple[MeetingMessage, asyncio.Future[None]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    async with self._unit_of_work() as s:
                        s.session.add_all([m for m, _ in batch])
                except Exception as exc:  # noqa: BLE001 (each sender is told)
                    _settle(batch, exc)
                else:
                    _settle(batch, None)
                batch = []
        finally:  # stopped (cancelled): what was in flight or waiting is not known to be kept
            self._writer = None
            stopped = RuntimeError("the meeting chat stopped")
            _settle(batch + self._waiting, stopped)
            self._waiting = []


def _settle(batch: list[tuple[MeetingMessage, asyncio.Future[None]]],
            exc: BaseException | None) -> None:  # fmt: skip
    for _, kept in batch:
        if kept.done():
            continue
        if exc is None:
            kept.set_result(None)
        else:
            kept.set_exception(exc)
