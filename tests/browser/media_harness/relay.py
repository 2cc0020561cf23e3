"""The media harness's server, for tests and benchmarks only: it serves the harness page and
the real modules of ``src/fareroom/web/static`` under the app's own Content-Security-Policy,
and relays signalling between pages as ``/ws/meeting`` will (docs/meetings.md), reduced to
what media needs: ``welcome`` (with ``ice_servers``), ``roster``, ``joined``, ``left`` and
``signal`` passed to its ``to`` with ``from``. No tickets, no rules: a page names its room and
id in the URL (``/ws?room=r&id=ada``).

Run by hand: ``python -m tests.browser.media_harness.relay`` (then open the printed URL).
"""

from __future__ import annotations

import asyncio
import errno
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from fareroom.config import Settings
from fareroom.web.security import content_security_policy

HERE = Path(__file__).resolve().parent
STATIC = HERE.parents[2] / "src" / "fareroom" / "web" / "static"
PORTS = range(18100, 18200)  # this work's own range on the shared machine
FILES = {"/": "harness.html", "/harness.js": "harness.js", "/harness.css": "harness.css"}


@dataclass
class Relay:
    """Pages by room and id; what each sent is counted (the tests read it)."""

    rooms: dict[str, dict[str, web.WebSocketResponse]] = field(
        default_factory=lambda: defaultdict(dict))  # fmt: skip
    signals: int = 0

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        room, me = request.query["room"], request.query["id"]
        ws = web.WebSocketResponse(max_msg_size=64 * 1024)
        await ws.prepare(request)
        peers = self.rooms[room]
        others = list(peers)
        await ws.send_json({"type": "welcome", "you": {"id": me}, "ice_servers": []})
        await ws.send_json({"type": "roster", "participants": [{"id": p} for p in others]})
        peers[me] = ws  # before anyone hears of it: their first signal must find it
        for other in others:
            await peers[other].send_json({"type": "joined", "participant": {"id": me}})
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self.relay(room, me, msg.json())
        finally:
            if peers.get(me) is ws:
                del peers[me]
                for other in list(peers.values()):
                    await other.send_json({"type": "left", "participant": me, "reason": "left"})
        return ws

    async def relay(self, room: str, me: str, frame: dict[str, Any]) -> None:
        target = self.rooms[room].get(str(frame.get("to")))
        if frame.get("type") == "signal" and target is not None:
            self.signals += 1
            await target.send_json({"type": "signal", "from": me, "data": frame["data"]})


def make_app(base_url: str) -> tuple[web.Application, Relay]:
    relay = Relay()
    policy = content_security_policy(Settings(base_url=base_url))

    @web.middleware
    async def headers(request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        response.headers["Content-Security-Policy"] = policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    async def page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(HERE / FILES[request.path])

    app = web.Application(middlewares=[headers])
    for path in FILES:
        app.router.add_get(path, page)
    app.router.add_get("/ws", relay.socket)
    app.router.add_static("/static", STATIC)
    return app, relay


async def start(host: str = "127.0.0.1") -> tuple[web.AppRunner, Relay, str]:
    """The harness on the first free port of ``PORTS``; answers (runner, relay, base URL)."""
    for port in PORTS:
        base = f"http://{host}:{port}"
        app, relay = make_app(base)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            await runner.cleanup()
            if exc.errno != errno.EADDRINUSE:
                raise
            continue
        return runner, relay, base
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


async def _main() -> None:
    runner, _, base = await start()
    print(f"{base}/?room=r&id=ada", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(_main())
