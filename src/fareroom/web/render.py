from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

from fareroom.kit.money import Money

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def money(amount: int, currency: str) -> str:
    return Money(int(amount), currency).format()


templates.env.filters["money"] = money
