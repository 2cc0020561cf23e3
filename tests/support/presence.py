"""An agent online as a connected console makes them: available, and heard just now.

For tests that drive the client's HTTP side without sockets: a room takes visits only while
one of its agents is online and connected (``LiveService.available``).
"""

from __future__ import annotations

from fareroom.bootstrap import Context
from fareroom.chat.live import agent_key


async def agent_online(ctx: Context, business_id: str, user_id: str) -> None:
    async with ctx.unit_of_work() as s:
        await s.live.set_availability(business_id, user_id, "online")
    await ctx.hub.touch({agent_key(user_id): ctx.clock.now().timestamp()})
