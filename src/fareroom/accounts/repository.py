from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, delete, select

from fareroom.kit.repository import Repository
from fareroom.models.business import ApiKey, Business, User, WebSession

_BY_KEY = (
    select(Business)
    .join(ApiKey, ApiKey.business_id == Business.id)
    .where(ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None))
)


class AccountsRepository(Repository):
    async def business(self, business_id: str) -> Business | None:
        return await self.session.get(Business, business_id)

    async def business_for_update(self, business_id: str) -> Business | None:
        stmt = select(Business).where(Business.id == business_id).with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def user_by_email(self, email: str) -> User | None:
        stmt = select(User).where(User.email == email)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def users(self, business_id: str) -> Sequence[User]:
        stmt = select(User).where(User.business_id == business_id).order_by(User.id)
        return (await self.session.execute(stmt)).scalars().all()

    async def business_by_key_hash(self, key_hash: str) -> Business | None:
        """The business of a live API key (one entity loaded: this runs on every request)."""
        return (await self.session.execute(_BY_KEY, {"key_hash": key_hash})).scalar()

    async def web_session(
        self, token_hash: str, now: datetime
    ) -> tuple[User, Business | None] | None:
        stmt = (
            select(User, Business)
            .join(WebSession, WebSession.user_id == User.id)
            .outerjoin(Business, Business.id == User.business_id)
            .where(WebSession.token_hash == token_hash, WebSession.expires_at > now)
        )
        row = (await self.session.execute(stmt)).first()
        return (row[0], row[1]) if row else None

    async def delete_web_session(self, token_hash: str) -> None:
        await self.session.execute(delete(WebSession).where(WebSession.token_hash == token_hash))
