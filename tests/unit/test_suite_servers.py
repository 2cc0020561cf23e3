"""The suite's in-process servers leave the process's signal handlers alone, so a process
forked later (the fault simulator's pool) stops on SIGTERM."""

from __future__ import annotations

import signal
from typing import Any

import httpx

from tests.support.servers import uvicorn_here


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def test_servers_that_overlap_out_of_order_leave_sigterm_as_it_was() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    first = uvicorn_here(_app)
    address = await first.__aenter__()
    async with uvicorn_here(_app) as other, httpx.AsyncClient() as http:
        assert (await http.get(f"http://{address}/")).status_code == 204
        assert (await http.get(f"http://{other}/")).status_code == 204
        assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
        await first.__aexit__(None, None, None)  # the first stops while the second serves
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
