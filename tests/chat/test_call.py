"""A call inside a live chat: its frames pass between the session's two pages and nowhere
else, during the chat only, and the meter goes on as it was."""

from __future__ import annotations

from tests.chat.conftest import Live


async def test_call_frames_pass_between_the_chats_two_pages_only_while_it_is_open(
    live: Live,
) -> None:
    agent = await live.agent()
    room = await live.room([agent])
    console = await live.console(agent)
    page, _ = await live.client((await live.visit(room))["token"])
    opened = await page.session(lambda s: s["status"] == "open")
    await console.session(lambda s: s["status"] == "open")

    await page.send(type="call", data={"ring": True})
    rung = await console.expect("call")
    assert (rung["from"], rung["data"], rung["session_id"]) == ("client", {"ring": True},
                                                                opened["id"])  # fmt: skip
    await console.send(type="call", session=opened["id"], data={"sdp": {"type": "offer"}})
    got = await page.expect(lambda m: m["type"] == "call" and m["from"] == "agent")
    assert got["data"] == {"sdp": {"type": "offer"}}

    # another chat's pages hear nothing of it
    other = await live.agent("Other")
    other_room = await live.room([other])
    other_console = await live.console(other)
    other_page, _ = await live.client((await live.visit(other_room))["token"])
    other_session = (await other_page.session(lambda s: s["status"] == "open"))["id"]
    await console.send(type="call", session=opened["id"], data={"end": True})
    assert not [m for m in await other_console.quiet() + await other_page.quiet()
                if m.get("type") == "call"]  # fmt: skip
    # an agent may not call into another agent's chat
    await console.send(type="call", session=other_session, data={"ring": True})
    assert (await console.expect("error"))["code"] == "session_not_found"
    await page.send(type="call", data="not an object")
    assert (await page.expect("error"))["code"] == "invalid_call"

    await console.send(type="hangup", session=opened["id"])
    await page.session(lambda s: s["status"] == "paid")
    await page.send(type="call", data={"ring": True})
    assert (await page.expect("error"))["code"] == "chat_not_open"
