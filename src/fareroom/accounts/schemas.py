from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from fareroom.accounts.passwords import MIN_LENGTH
from fareroom.kit.fields import PLAIN, Email, text


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    # The service says why a password is too weak (``weak_password``, its ``reason``); the
    # document states the length it needs.
    password: Annotated[str, WithJsonSchema({
        "type": "string", "minLength": MIN_LENGTH, "maxLength": 200, "pattern": PLAIN,
    })] = Field(max_length=200, pattern=PLAIN)  # fmt: skip
    role: Literal["admin", "agent", "host", "finance"]
    name: str = text(200, "", blank=True)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    email: str
    name: str
    role: str
    created_at: datetime
