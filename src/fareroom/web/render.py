from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.templating import Jinja2Templates

from fareroom.kit.money import Money

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def money(amount: int, currency: str) -> str:
    return Money(int(amount), currency).format()


def when(moment: datetime, seconds: bool = False) -> str:
    """A time as pages show it, with its zone: ``2026-12-01 14:03 UTC`` (times are stored
    in UTC and businesses have no time zone of their own yet)."""
    return moment.astimezone(UTC).strftime(f"%Y-%m-%d %H:%M{':%S' if seconds else ''} UTC")


def local(moment: datetime, zone: str | None) -> str:
    """A meeting's time in its own time zone, as people read it: ``Mon 14 Dec 2026, 18:00
    (Europe/Berlin)``."""
    if not zone:
        return when(moment)
    return f"{moment.astimezone(ZoneInfo(zone)):%a %d %b %Y, %H:%M} ({zone})"


templates.env.filters["money"] = money
templates.env.filters["local"] = local
templates.env.filters["when"] = when
