"""Fareroom's WebSocket server protocol (realtime.websocket) on the wire: uvicorn on
127.0.0.1 hands it the upgrade requests of an app whose only socket path echoes; raw TCP
for what a well-behaved client never sends, the ``websockets`` client for the rest."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.utils import apply_mask

from fareroom.realtime.websocket import STATE_KEY, PageSocket, Routes, at_rest
from tests.support.servers import uvicorn_here

MAX = 1024


class Echo:
    """Sends back what it gets (``binary`` for a binary message); ``close:<code>`` closes."""

    seen: list[Echo] = []

    def __init__(self, socket: PageSocket, headers: Mapping[str, str]) -> None:
        self.socket, self.headers = socket, dict(headers)
        self.got: list[str | None] = []
        self.ended: bool | None = None
        Echo.seen.append(self)

    def received(self, text: str | None) -> None:
        self.got.append(text)
        if text and text.startswith("close:"):
            self.socket.close(int(text[6:]), "asked to")
        else:
            self.socket.send_text("binary" if text is None else text)

    def lost(self, shutdown: bool) -> None:
        self.ended = shutdown


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "lifespan"  # every socket path is the protocol's
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            scope["state"][STATE_KEY] = Routes({"/echo": Echo}, max_size=MAX)
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


@pytest.fixture(scope="module")
async def url() -> AsyncIterator[str]:
    async with uvicorn_here(app) as where:
        yield where


def handshake(path: str = "/echo", **headers: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = {"Host": "127.0.0.1", "Upgrade": "websocket", "Connection": "Upgrade",
             "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13", **headers}  # fmt: skip
    return (f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in lines.items())
            + "\r\n").encode()  # fmt: skip


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bool = True) -> bytes:
    n = len(payload)
    first = bytes(((0x80 if fin else 0) | opcode,))
    bit = 0x80 if mask else 0
    if n < 126:
        size = bytes((bit | n,))
    elif n < 65536:
        size = bytes((bit | 126,)) + n.to_bytes(2, "big")
    else:
        size = bytes((bit | 127,)) + n.to_bytes(8, "big")
    if not mask:
        return first + size + payload
    key = os.urandom(4)
    return first + size + key + apply_mask(payload, key)


class Raw:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str, request: bytes) -> tuple[Raw, bytes]:
        host, port = url.split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        return cls(reader, writer), head

    async def frame(self) -> tuple[int, bytes]:
        """The server's next frame: opcode and payload (the server never masks)."""
        first, size = await asyncio.wait_for(self.reader.readexactly(2), 5)
        assert not size & 0x80, "the server masked a frame"
        n = size & 0x7F
        if n == 126:
            n = int.from_bytes(await self.reader.readexactly(2), "big")
        elif n == 127:
            n = int.from_bytes(await self.reader.readexactly(8), "big")
        return first & 0x0F, await self.reader.readexactly(n)

    async def closed_with(self) -> int:
        """The close code the server sends; then it ends the connection."""
        opcode, payload = await self.frame()
        assert opcode == 0x8
        self.writer.write(client_frame(0x8, payload[:2]))
        assert await asyncio.wait_for(self.reader.read(), 5) == b""
        return int.from_bytes(payload[:2], "big")


@pytest.mark.parametrize(("request_", "status"), [
    (handshake("/nowhere"), b"404"),
    (handshake(**{"Sec-WebSocket-Key": ""}), b"400"),
    (handshake(**{"Sec-WebSocket-Key": "short"}), b"400"),
    (handshake(**{"Sec-WebSocket-Version": "8"}), b"426"),
    (handshake().replace(b"GET", b"POST"), b"405"),  # with Allow: GET
])  # fmt: skip
async def test_a_request_that_is_not_a_good_handshake_is_answered_and_closed(
    url: str, request_: bytes, status: bytes
) -> None:
    raw, head = await Raw.open(url, request_)
    assert head.split(b" ")[1] == status, head
    await asyncio.wait_for(raw.reader.read(), 5)  # the body, then the end
    assert raw.reader.at_eof()


async def test_messages_go_both_ways_with_headers_fragments_pings_and_a_clean_close(
    url: str,
) -> None:
    Echo.seen.clear()
    async with connect(f"ws://{url}/echo?x=1", additional_headers={"Cookie": "a=1"},
                       max_size=None) as ws:  # fmt: skip
        await ws.send("héllo")
        assert await ws.recv() == "héllo"
        await ws.send(b"\x00\x01")
        assert await ws.recv() == "binary"
        await ws.send(["frag", "ment", "ed"])  # one message in three frames
        assert await ws.recv() == "fragmented"
        big = "x" * 300  # a 16-bit length
        await ws.send(big)
        assert await ws.recv() == big
        await asyncio.wait_for(await ws.ping(b"are you there"), 5)
    assert ws.close_code == 1000
    echo = Echo.seen[-1]
    assert echo.headers["cookie"] == "a=1" and echo.headers["upgrade"] == "websocket"
    assert echo.got == ["héllo", None, "fragmented", big]
    for _ in range(100):
        if echo.ended is not None:
            break
        await asyncio.sleep(0.02)
    assert echo.ended is False  # the page went, not the server


async def test_the_server_closes_with_a_code_and_the_page_answers(url: str) -> None:
    async with connect(f"ws://{url}/echo") as ws:
        await ws.send("close:4009")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4009


@pytest.mark.parametrize(("frame", "code"), [
    (client_frame(0x1, b"unmasked", mask=False), 1002),
    (client_frame(0x1, b"x" * (MAX + 1)), 1009),
    (client_frame(0x1, b"\xff\xfe"), 1007),
    (client_frame(0x0, b"continuation of nothing"), 1002),
    (client_frame(0x9, b"ping", fin=False), 1002),
    (client_frame(0x1, b"a", fin=False) + client_frame(0x1, b"b"), 1002),
    (client_frame(0x3, b"reserved opcode"), 1002),
    (bytes((0x81 | 0x40,)) + client_frame(0x1, b"rsv1")[1:], 1002),
])  # fmt: skip
async def test_a_frame_that_breaks_the_protocol_closes_the_socket_with_its_code(
    url: str, frame: bytes, code: int
) -> None:
    raw, head = await Raw.open(url, handshake())
    assert head.startswith(b"HTTP/1.1 101 ")
    raw.writer.write(client_frame(0x1, b"first"))
    assert await raw.frame() == (0x1, b"first")
    raw.writer.write(frame)
    assert await raw.closed_with() == code


async def test_frames_split_and_joined_across_reads_are_read_whole(url: str) -> None:
    raw, _ = await Raw.open(url, handshake())
    wire = client_frame(0x1, b"one") + client_frame(0x1, b"two" * 100) + client_frame(0x9, b"p")
    for i in range(len(wire)):  # a byte at a time
        raw.writer.write(wire[i : i + 1])
        await raw.writer.drain()
    assert await raw.frame() == (0x1, b"one")
    assert await raw.frame() == (0x1, b"two" * 100)
    assert await raw.frame() == (0xA, b"p")  # pong
    raw.writer.write(client_frame(0x8, (1000).to_bytes(2, "big")))
    opcode, payload = await raw.frame()
    assert (opcode, payload[:2]) == (0x8, (1000).to_bytes(2, "big"))
    assert await asyncio.wait_for(raw.reader.read(), 5) == b""


async def test_a_ping_between_fragments_is_answered_and_the_message_arrives_whole(
    url: str,
) -> None:
    raw, _ = await Raw.open(url, handshake())
    part = b"y" * (MAX - 2)  # with the last fragment, exactly the largest message
    raw.writer.write(client_frame(0x1, part, fin=False) + client_frame(0x9, b"mid")
                     + client_frame(0x0, b"zz"))  # fmt: skip
    assert await raw.frame() == (0xA, b"mid")
    assert await raw.frame() == (0x1, part + b"zz")


async def test_a_close_code_that_may_not_be_sent_is_answered_as_a_protocol_error(
    url: str,
) -> None:
    raw, _ = await Raw.open(url, handshake())
    raw.writer.write(client_frame(0x8, (1005).to_bytes(2, "big")))
    opcode, payload = await raw.frame()
    assert (opcode, payload[:2]) == (0x8, (1002).to_bytes(2, "big"))
    assert await asyncio.wait_for(raw.reader.read(), 5) == b""


async def test_a_page_that_pings_without_reading_is_closed_rather_than_buffering_pongs(
    url: str,
) -> None:
    host, port = url.split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the page reads nothing
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(handshake())
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    pings = client_frame(0x9, b"p" * 125) * 1000
    sent = 0
    with contextlib.suppress(ConnectionError):
        for _ in range(128):  # 128 000 pings: 16 MB of pongs if every one were answered
            writer.write(pings)
            await writer.drain()
            sent += 1000
    received = 0
    with contextlib.suppress(ConnectionError):
        async with asyncio.timeout(30):  # the server ends the connection: it stopped answering
            while chunk := await reader.read(1 << 16):
                received += len(chunk)
    writer.close()
    # It answered until the page was 1 MiB behind (plus what the kernels hold), then closed
    # it: far fewer pongs than pings, the rest never buffered.
    assert 0 < received < sent * 127 // 2


class Wire(asyncio.Transport):
    """A transport that keeps what the server writes (for reads split where a test says)."""

    def __init__(self) -> None:
        super().__init__()
        self.out = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.out += data

    def get_write_buffer_size(self) -> int:
        return 0

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass


def opened() -> tuple[PageSocket, Wire]:
    socket = PageSocket(app_state={STATE_KEY: Routes({"/echo": Echo}, max_size=MAX)})
    wire = Wire()
    socket.connection_made(wire)
    socket.data_received(handshake())
    assert wire.out.startswith(b"HTTP/1.1 101 "), wire.out
    wire.out.clear()
    return socket, wire


def server_frame(opcode: int, payload: bytes) -> bytes:
    return bytes((0x80 | opcode, len(payload))) + payload  # under 126 bytes


async def test_a_frame_or_message_half_read_is_kept_while_other_sockets_read_theirs() -> None:
    # The sockets at rest share one protocol (realtime.websocket: Memory). Each of these
    # reads stops where a socket's reader holds nothing and yet the socket is not at rest:
    # after a frame's first two bytes, after its mask, and between a message's fragments;
    # meanwhile other sockets read whole frames, fragments and pings.
    first = client_frame(0x1, b"first")
    cuts = [first[:2], first[2:6], first[6:]]
    fragments = [client_frame(0x1, b"frag", fin=False), client_frame(0x0, b"ment")]
    a, wire_a = opened()
    b, wire_b = opened()
    c, wire_c = opened()
    for i, cut in enumerate(cuts):
        a.data_received(cut)
        if i < len(fragments):
            b.data_received(fragments[i])
        c.data_received(client_frame(0x1, f"c{i}".encode()) + client_frame(0x9, b"p"))
    assert wire_a.out == server_frame(0x1, b"first")
    assert wire_b.out == server_frame(0x1, b"fragment")
    assert wire_c.out == b"".join(server_frame(0x1, f"c{i}".encode()) + server_frame(0xA, b"p")
                                  for i in range(3))  # fmt: skip
    b.data_received(client_frame(0x8, (1000).to_bytes(2, "big")))  # b closes; the rest read on
    a.data_received(client_frame(0x1, b"again"))
    assert wire_a.out.endswith(server_frame(0x1, b"again"))
    assert wire_b.out.endswith(server_frame(0x8, (1000).to_bytes(2, "big")))


@pytest.mark.parametrize(("wire", "taken", "rest"), [
    (b"", True, True),
    (client_frame(0x1, b"whole") + client_frame(0x9, b"ping"), True, True),
    (client_frame(0x9, b"ping"), False, False),  # its pong not yet taken to write
    (client_frame(0x1, b"whole")[:2], True, False),  # the rest of its head to come
    (client_frame(0x1, b"whole")[:6], True, False),  # its payload to come, nothing held
    (client_frame(0x1, b"part", fin=False), True, False),  # a fragmented message begun
    (client_frame(0x8, (1000).to_bytes(2, "big")), True, False),  # closing
])  # fmt: skip
def test_a_protocol_is_at_rest_only_open_between_whole_messages(
    wire: bytes, taken: bool, rest: bool
) -> None:
    ws = ServerProtocol(state=State.OPEN)
    ws.receive_data(wire)
    if taken:
        ws.data_to_send()
    assert at_rest(ws) is rest
