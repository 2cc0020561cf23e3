"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it is sent."""

from __future__ import annotations

import email
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.servers import free_port


class SmtpInbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.port = free_port()
        self._server = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()
