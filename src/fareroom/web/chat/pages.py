"""The client's chat page (public: anyone with the room's link) and the embed script a
business puts on its website (a chat button that opens the page in a window of its own).

The chat page is the one page another site may frame: its ``frame-ancestors`` lists the
sites its room allows (none by default, so only the button's window or a link shows it).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from fareroom.chat.service import embed_origins
from fareroom.http import PathId, context
from fareroom.web.embed import embed_script
from fareroom.web.render import templates
from fareroom.web.security import content_security_policy

router = APIRouter(include_in_schema=False)


@router.get("/chat/{room_id}", response_class=HTMLResponse)
async def client_page(room_id: PathId, request: Request) -> Response:
    ctx = context(request)
    async with ctx.unit_of_work() as s:
        room, biz = await s.live.public_room(room_id)
        available = await s.live.available(room.id, ctx.relay.connected())
        away = s.live.away_message(room)
    sites = embed_origins(room)
    policy = content_security_policy(ctx.settings, frame_ancestors=sites)
    # With sites listed, X-Frame-Options (which cannot list them) is left out; browsers
    # follow frame-ancestors.
    framing = {} if sites else {"X-Frame-Options": "DENY"}
    return templates.TemplateResponse(request, "chat/client.html", {
        "room": room, "business_name": biz.name, "gateway": ctx.settings.gateway,
        "stripe_key": ctx.settings.stripe_publishable_key, "available": available,
        "away_message": away},
        headers={"Content-Security-Policy": policy, **framing})  # fmt: skip


@router.get("/chat/{room_id}/embed.js")
async def chat_embed(room_id: PathId, request: Request) -> Response:
    """``<script src=".../chat/<room>/embed.js" async></script>`` adds a chat button."""
    ctx = context(request)
    async with ctx.unit_of_work() as s:
        room, _ = await s.live.public_room(room_id)
    return embed_script(f"{ctx.settings.base_url}/chat/{room.id}", f"Chat: {room.name}",
                        window="fareroom-chat")  # fmt: skip
