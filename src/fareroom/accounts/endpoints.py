from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from fareroom.accounts.schemas import UserCreate, UserOut
from fareroom.accounts.service import Caller
from fareroom.bootstrap import Services
from fareroom.http import api_key, read, write

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.post("", status_code=201, response_model=UserOut)
async def create_user(
    body: UserCreate, request: Request, key: str = Depends(api_key)
) -> JSONResponse:
    """Add an admin, agent (host) or finance user to the business; passwords kept as argon2."""

    async def run(s: Services, caller: Caller, _: str | None) -> UserOut:
        user = await s.accounts.add_user(caller.business_id, email=body.email,
                                         password=body.password, role=body.role,
                                         name=body.name)  # fmt: skip
        return UserOut.model_validate(user)

    return await write(request, key, body, prefix="usr", fn=run)


@router.get("", response_model=dict[str, Any])
async def list_users(request: Request, key: str = Depends(api_key)) -> dict[str, Any]:
    users = await read(request, key, lambda s, caller: s.accounts.users(caller.business_id))
    return {"data": [UserOut.model_validate(u).model_dump(mode="json") for u in users]}
