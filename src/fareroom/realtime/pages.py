"""What every page's socket does, whatever it carries (a chat, a meeting): hello first, then
one message after another, each read into its frame's model and handed to its handler, an
``error`` (code, sentence, the message's ``ref``) for one that cannot be carried out, and a
``done`` for one that was and asked (``ref``).

The socket (``realtime.websocket.PageSocket``) hands over each message as it arrives. A
heartbeat that finds the page idle is handled there and then (being heard is all it does);
any other message is queued, and the page's messages are carried out one after another by a
task that runs while there are some, so a page costs no task while it only beats.

A subclass says ``hello`` (greets the page, ``open``s its connection), ``ended`` (the
socket closed: what its going means) and its ``handlers`` (frame type → model, method).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Self, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from fareroom.kit.errors import FareroomError, Forbidden, Unauthenticated, ValidationFailed
from fareroom.kit.ratelimit import RateLimited
from fareroom.realtime.connections import Connection, Registry
from fareroom.realtime.hub import dumps
from fareroom.realtime.websocket import PageSocket

log = logging.getLogger("fareroom.realtime")
UNAUTHORISED = 4401
BAD_HELLO = 4400
PONG = dumps({"type": "pong"})


class MalformedMessage(ValidationFailed):
    code = "malformed_message"


class Frame(BaseModel):
    """A frame a page sends, in shape only: the services check the rules. A frame of the
    wrong shape is refused with the code and sentence its ``problems`` give for the first
    field that is wrong, or with its ``code``."""

    model_config = ConfigDict(extra="ignore")
    code: ClassVar[str] = "malformed_message"
    noun: ClassVar[str] = "The message"  # what the sentence of a wrong one calls it
    problems: ClassVar[dict[str, tuple[str, str]]] = {}

    type: str
    ref: Any = None

    @classmethod
    def read(cls, data: dict[str, Any]) -> Self:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            loc = exc.errors()[0]["loc"]
            field = str(loc[0]) if loc else ""
            code, sentence = cls.problems.get(field, (cls.code, cls.invalid(exc)))
            raise ValidationFailed(sentence, code=code) from None

    @classmethod
    def invalid(cls, exc: ValidationError) -> str:
        """A sentence for the first thing wrong with a frame."""
        first = exc.errors()[0]
        return f"{cls.noun} is not valid: {cls.where(list(first['loc']))}: {first['msg']}."

    @classmethod
    def where(cls, loc: list[Any]) -> str:
        return ".".join(str(p) for p in loc) or "the message"


class Hello(Frame):
    problems = {"type": ("hello_expected", "Say hello first.")}
    type: Literal["hello"]


class Ping(Frame):
    reply: Any = None


def heartbeat_kind(text: str | None) -> str | None:
    """``"ping"`` for a heartbeat, ``"reply"`` for one that asks for a ``pong`` (a page
    checking that its socket still reaches us), None for anything else."""
    if text is None or len(text) > 200 or '"ping"' not in text:
        return None
    try:
        data = orjson.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("type") != "ping":
        return None
    return "reply" if data.get("reply") is True else "ping"


@dataclass(frozen=True)
class PageTimings:
    heartbeat: float  # seconds between a page's heartbeats
    offline_after: float  # seconds: a page not heard this long is offline
    hello: float  # seconds: a page must say hello within this
    max_message_bytes: int  # the largest message a page may send


F = TypeVar("F", bound=Frame)
# A frame's model and what is done with it.
Handler = tuple[type[Frame], Callable[[Any, Any], Awaitable[None]]]


def handler(frame: type[F], fn: Callable[[Any, F], Awaitable[None]]) -> Handler:
    return frame, fn


def ref_of(ref: object) -> str | None:
    return ref[:64] if isinstance(ref, str) else None


def problem(err: FareroomError) -> dict[str, Any]:
    if isinstance(err, RateLimited):
        return {"code": err.code, "message": err.message, "retry_after": err.retry_after}
    return {"code": err.code, "message": err.message}


class SocketPage:
    __slots__ = ("socket", "registry", "timings", "conn", "_headers", "_inbox", "_busy",
                 "_lost", "_shutdown", "_timer")  # fmt: skip
    role = ""
    hello_frame: ClassVar[type[Hello]] = Hello
    handlers: ClassVar[dict[str, Handler]] = {}

    def __init__(self, socket: PageSocket, registry: Registry, timings: PageTimings,
                 headers: Mapping[str, str]) -> None:  # fmt: skip
        self.socket = socket
        self.registry = registry
        self.timings = timings
        self.conn: Connection | None = None
        self._headers: Mapping[str, str] | None = headers  # until greeted
        self._inbox: deque[str | None] = deque()
        self._busy = False
        self._lost = False
        self._shutdown = False
        # A page that does not say hello in time is closed (4400): an open socket that
        # never proves anything must not be held.
        self._timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            timings.hello, self._no_hello
        )

    # ------------------------------------------------------------ what a page says

    async def hello(self, frame: Any) -> None:
        raise NotImplementedError

    async def ended(self, conn: Connection, shutdown: bool) -> None:
        """The socket closed (``conn`` was the page's connection, already removed from the
        registry); ``shutdown``: the server is only restarting."""

    def error_of(self, exc: Exception) -> FareroomError | None:
        """The error to tell the page for an exception a handler raised (None: our fault)."""
        return exc if isinstance(exc, FareroomError) else None

    # ------------------------------------------------------------ the socket's side

    def received(self, text: str | None) -> None:
        if self._lost:
            return
        if self.conn is not None:
            self.registry.heard(self.conn)
            kind = None if self._busy else heartbeat_kind(text)
            if kind == "reply":
                self.conn.send(PONG)
            if kind:
                return
        self._inbox.append(text)
        if not self._busy:
            self._busy = True
            asyncio.get_running_loop().create_task(self._drain())

    def lost(self, shutdown: bool) -> None:
        self._lost, self._shutdown = True, shutdown
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._busy:
            self._busy = True
            asyncio.get_running_loop().create_task(self._drain())

    def _no_hello(self) -> None:
        self._timer = None
        if self.conn is None and not self._busy:
            self.refuse(ValidationFailed("Say hello first.", code="hello_expected"))

    async def _drain(self) -> None:
        try:
            while self._inbox and not self._lost:
                text = self._inbox.popleft()
                if self.conn is not None:
                    await self.dispatch(text)
                elif not await self._greet(text):
                    self._inbox.clear()
        except Exception:
            log.exception("%s page failed", self.role)
        finally:
            self._busy = False
        if self._lost:
            try:
                await self._leave()
            except Exception:
                log.exception("%s page's end not recorded", self.role)

    async def _leave(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            await self.registry.remove(conn)
            await self.ended(conn, self._shutdown)

    async def _greet(self, text: str | None) -> bool:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            async with self.registry.greeting:
                await self.hello(self.hello_frame.read(self.parse(text)))
            return True
        except Exception as exc:
            err = self.error_of(exc)
            if err is None:
                log.exception("%s hello failed", self.role)
                await self.fail()
            else:
                self.refuse(err)
        finally:
            self._headers = None
        return False

    async def fail(self) -> None:
        """Our fault (e.g. the database did not answer): the page is told and reconnects."""
        conn, self.conn = self.conn, None
        if conn is not None:
            await self.registry.remove(conn)
        self.socket.send_text(dumps({"type": "error", "code": "internal_error",
                                     "message": "Something went wrong on our side; "
                                     "connecting again."}))  # fmt: skip
        self.socket.close(1011, "internal_error")

    def close_code(self, exc: FareroomError) -> int:
        return UNAUTHORISED if isinstance(exc, Unauthenticated | Forbidden) else BAD_HELLO

    def refuse(self, exc: FareroomError) -> None:
        """Tell the page why, and close its socket."""
        self.socket.send_text(dumps({"type": "error", **problem(exc)}))
        self.socket.close(self.close_code(exc), exc.code[:100])

    def header(self, name: str) -> str | None:
        """A header of the socket's request (only while greeting)."""
        return self._headers.get(name) if self._headers is not None else None

    def parse(self, text: str | None) -> dict[str, Any]:
        if text is None:
            raise MalformedMessage("Send JSON text, not binary frames.")
        limit = self.timings.max_message_bytes
        if len(text) > limit or len(text.encode()) > limit:
            raise ValidationFailed(f"A message has at most {limit} bytes.",
                                   code="message_too_large")  # fmt: skip
        try:
            data = orjson.loads(text)
        except ValueError:
            raise MalformedMessage("The message is not valid JSON.") from None
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            raise MalformedMessage("A message is a JSON object with a 'type'.")
        return data

    async def dispatch(self, text: str | None) -> None:
        ref = None
        try:
            data = self.parse(text)
            ref = data.get("ref")
            found = self.handlers.get(data["type"])
            if found is None:
                raise ValidationFailed(f"Unknown message type {data['type'][:40]!r}.",
                                       code="unknown_type")  # fmt: skip
            frame, handle = found
            await handle(self, frame.read(data))
            if ref is not None:  # the page waits for the answer (e.g. to clear a form)
                self.send({"type": "done", "ref": ref_of(ref)})
        except Exception as exc:
            err = self.error_of(exc)
            if err is None:
                log.exception("%s message failed", self.role)
                self.send({"type": "error", "code": "internal_error", "ref": ref_of(ref),
                           "message": "Something went wrong on our side; nothing was "
                           "changed."})  # fmt: skip
            else:
                self.send({"type": "error", **problem(err), "ref": ref_of(ref)})

    def send(self, message: dict[str, Any]) -> None:
        if self.conn is not None:
            self.conn.send_json(message)

    async def open(self, key: str) -> Connection:
        self.conn = self.registry.open(self.socket, key)
        self.conn.page = self
        await self.registry.flush_presence()
        return self.conn

    async def ping(self, frame: Ping) -> None:
        """A heartbeat: being heard is all it does, but for a ``pong`` when asked."""
        if frame.reply is True:
            self.send({"type": "pong"})
