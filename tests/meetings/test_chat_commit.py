"""The meeting chat's group commit (fareroom.meetings.chat), on the suite's real database:
messages that come while a batch is written go in the next commit together, a commit that
fails fails each of its senders and the next batch goes on, and a refused message is never
written. The real unit of work is wrapped to count its transactions and, for one test, to
fail one of them the way a lost database connection would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import select

from fareroom.bootstrap import Context
from fareroom.kit.clock import FrozenClock
from fareroom.kit.errors import ValidationFailed
from fareroom.kit.ratelimit import InMemoryRateLimiter, Limit
from fareroom.meetings.chat import MeetingChat
from fareroom.models.meeting import MeetingMessage
from tests.meetings.conftest import Meet


class Counted:
    """The context's unit of work, counting its transactions; ``fail`` names which ones
    (1-based) raise before they commit."""

    def __init__(self, ctx: Context, fail: frozenset[int] = frozenset()) -> None:
        self.ctx, self.fail, self.n = ctx, fail, 0
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[Any]:
        self.n += 1
        n = self.n
        self.entered.set()
        async with self.ctx.unit_of_work() as s:
            yield s
            await self.release.wait()  # a slow commit, while the test sends more
            if n in self.fail:
                raise ConnectionResetError("the database went away")


async def kept(ctx: Context, room_id: str) -> list[str]:
    async with ctx.unit_of_work() as s:
        rows = await s.session.scalars(select(MeetingMessage.text)
                                       .where(MeetingMessage.room_id == room_id))  # fmt: skip
        return sorted(t or "" for t in rows)


def chat(ctx: Context, clock: FrozenClock, uow: Counted) -> MeetingChat:
    return MeetingChat(uow, clock, InMemoryRateLimiter(clock), Limit(1000, 60))


async def test_messages_sent_while_a_batch_is_written_go_in_the_next_commit_together(
    meet: Meet, ctx: Context, clock: FrozenClock
) -> None:
    room, host, ada = await meet.started()
    uow = Counted(ctx)
    c = chat(ctx, clock, uow)
    uow.release.clear()
    first = asyncio.create_task(c.say(room["id"], host.id, "Hana", text="first", cipher=None,
                                      iv=None, to=None, ref=None))  # fmt: skip
    await uow.entered.wait()
    more = [
        asyncio.create_task(
            c.say(
                room["id"], ada.id, "Ada", text=f"more {i}", cipher=None, iv=None, to=None, ref=None
            )
        )  # fmt: skip
        for i in range(5)
    ]
    await asyncio.sleep(0.05)
    assert not first.done() and not any(t.done() for t in more)  # nobody is told before it is kept
    uow.release.set()
    sent = await asyncio.gather(first, *more)
    assert uow.n == 2  # the first alone, then the five together
    assert [m.text for m in sent] == ["first", *(f"more {i}" for i in range(5))]
    assert await kept(ctx, room["id"]) == sorted(["first", *(f"more {i}" for i in range(5))])


async def test_a_failed_commit_fails_its_senders_and_the_next_batch_is_kept(
    meet: Meet, ctx: Context, clock: FrozenClock
) -> None:
    room, host, ada = await meet.started()
    uow = Counted(ctx, fail=frozenset({1}))
    c = chat(ctx, clock, uow)
    uow.release.clear()
    lost = asyncio.create_task(c.say(room["id"], host.id, "Hana", text="lost", cipher=None,
                                     iv=None, to=None, ref=None))  # fmt: skip
    await uow.entered.wait()
    later = asyncio.create_task(c.say(room["id"], ada.id, "Ada", text="later", cipher=None,
                                      iv=None, to=None, ref=None))  # fmt: skip
    await asyncio.sleep(0.05)
    uow.release.set()
    with pytest.raises(ConnectionResetError):
        await lost
    assert (await later).text == "later"
    assert await kept(ctx, room["id"]) == ["later"]
    # and the chat goes on afterwards, a writer started anew
    await c.say(room["id"], ada.id, "Ada", text="again", cipher=None, iv=None, to=None, ref=None)
    assert await kept(ctx, room["id"]) == ["again", "later"]
    assert uow.n == 3


@pytest.mark.parametrize(("fields", "why"), [
    ({"text": "   "}, "1 to 4000 characters"),
    ({"text": "x" * 4001}, "1 to 4000 characters"),
    ({"text": "a\x00b"}, "NUL"),
    ({"text": None, "cipher": "", "iv": "abc"}, "cipher of at most"),
    ({"text": None, "cipher": "c" * 8193, "iv": "abc"}, "cipher of at most"),
    ({"text": None, "cipher": "abc", "iv": None}, "cipher of at most"),
])  # fmt: skip
async def test_a_refused_message_is_never_written(
    meet: Meet, ctx: Context, clock: FrozenClock, fields: dict[str, Any], why: str
) -> None:
    room, host, _ = await meet.started()
    uow = Counted(ctx)
    c = chat(ctx, clock, uow)
    message: dict[str, Any] = {"text": None, "cipher": None, "iv": None, "to": None,
                               "ref": None, **fields}  # fmt: skip
    with pytest.raises(ValidationFailed, match=why) as refused:
        await c.say(room["id"], host.id, "Hana", **message)
    assert refused.value.code == "invalid_message"
    assert uow.n == 0 and await kept(ctx, room["id"]) == []
