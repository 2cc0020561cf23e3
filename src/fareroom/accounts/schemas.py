from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fareroom.kit.fields import PLAIN, Email, text


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    password: str = Field(min_length=8, max_length=200, pattern=PLAIN)
    role: Literal["admin", "agent", "finance"]
    name: str = text(200, "", blank=True)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    email: str
    name: str
    role: str
    created_at: datetime
