"""Slow and idle connections to a real server (uvicorn with ``fareroom serve``'s protocols and
timeouts, here half a second each): a request head that has not arrived whole in time is
cut off (slowloris), and so is a connection that sends nothing, or stays idle after a
response."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator

import pytest

from fareroom.app import create_app
from fareroom.bootstrap import Context
from tests.chat.conftest import Live
from tests.support.servers import uvicorn_here

GUARD = 4.0  # seconds a test waits for the server to act on a half-second timeout
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.fixture
async def quick(ctx: Context) -> AsyncIterator[str]:
    settings = ctx.settings.model_copy(update={"http_head_seconds": 0.5,
                                               "http_keep_alive_seconds": 0.5})  # fmt: skip
    quick_ctx = dataclasses.replace(ctx, settings=settings)
    async with uvicorn_here(create_app(quick_ctx, watch=False), settings) as url:
        yield url


async def _open(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = url.split(":")
    return await asyncio.open_connection(host, int(port))


async def _response(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), GUARD)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))  # fmt: skip
    return head + await reader.readexactly(length)


async def test_a_request_head_sent_a_byte_at_a_time_is_cut_off_with_408(quick: str) -> None:
    reader, writer = await _open(quick)
    answer = asyncio.create_task(reader.read())  # everything until the server closes
    slow = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 1000
    with contextlib.suppress(ConnectionError):
        for byte in slow:
            if answer.done():
                break
            writer.write(bytes((byte,)))
            await writer.drain()
            await asyncio.sleep(0.02)
    got = await asyncio.wait_for(answer, GUARD)
    writer.close()
    assert got.startswith(b"HTTP/1.1 408 ")


async def test_a_connection_that_sends_nothing_is_closed(quick: str) -> None:
    reader, writer = await _open(quick)
    assert await asyncio.wait_for(reader.read(), GUARD) == b""
    writer.close()


async def test_a_kept_alive_connection_serves_requests_and_is_closed_once_idle(
    quick: str,
) -> None:
    reader, writer = await _open(quick)
    for _ in range(2):
        writer.write(REQUEST)
        assert (await _response(reader)).startswith(b"HTTP/1.1 200 ")
        await asyncio.sleep(0.2)  # within the keep-alive timeout
    assert await asyncio.wait_for(reader.read(), GUARD) == b""
    writer.close()


async def test_an_open_socket_is_not_cut_off_by_the_head_timeout(quick: str, ctx: Context) -> None:
    live = Live(None, ctx, None, quick)  # type: ignore[arg-type]
    try:
        sock = await live.socket("/ws/client")
        await asyncio.sleep(1)  # twice the head timeout
        await sock.send(type="hello", token="vis_nope.secret")
        assert (await sock.expect("error"))["code"] == "resume_token_invalid"
    finally:
        await live.close()
