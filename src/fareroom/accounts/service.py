"""Businesses, users, API keys and sign-in.

Passwords are hashed with argon2. API keys and session tokens are 256-bit random secrets; we
keep only their SHA-256 (a slow hash adds nothing to a secret with that much entropy, and
every API request must look its key up).

Sign-in is rate-limited on failures (``SignInLimits``): an account with too many failed
sign-ins in the window refuses every sign-in, the right password included, until the window
has passed (that is what stops guessing), and so does an address with too many failures
across accounts. Only failures count; a success clears the account's failures (they were
its owner's typos, or guesses at a password now proven) but never the address's, so a
guesser cannot reset its count by signing in to an account of its own.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fareroom.accounts.passwords import Passwords, check_password
from fareroom.accounts.repository import AccountsRepository
from fareroom.kit.clock import Clock
from fareroom.kit.errors import (
    Conflict,
    Forbidden,
    InvalidEmail,
    NameRequired,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from fareroom.kit.fields import EMAIL
from fareroom.kit.ids import new_id
from fareroom.kit.money import normalise_currency
from fareroom.kit.ratelimit import Limit, RateLimiter, check_all
from fareroom.models.business import ApiKey, Business, ConnectStatus, User, WebSession
from fareroom.pricing.fees import FeePolicy, parse_rate

ROLES = ("owner", "admin", "agent", "host", "finance")  # what each may do: docs/roles.md
FINANCE_ROLES = frozenset({"owner", "admin", "finance"})
# Who hosts meetings: owners and admins every room, agents and hosts their own.
HOSTING_ROLES = frozenset({"owner", "admin", "agent", "host"})
SESSION_LIFETIME = timedelta(days=14)
COOKIE = "fareroom_session"  # a sign-in session's cookie: the pages' and the console socket's
_passwords = Passwords()
# One answer for an address already in use, whether by this business, another or the
# platform: a business must not learn that another business's user exists.
EMAIL_UNAVAILABLE = ("This email address cannot be used for a new user; use another.",
                     "email_unavailable")  # fmt: skip


class BusinessNotFound(NotFound):
    code = "business_not_found"

    def __init__(self) -> None:
        super().__init__("No such business.")


class EmailTaken(Conflict):
    code = "email_taken"

    def __init__(self) -> None:
        super().__init__("A user with this email already exists.")


class RoleForbidden(Forbidden):
    """The signed-in user's role may not see the page or do what it asked."""

    code = "role_forbidden"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Caller:
    """Who is asking: a business and, for a signed-in page, the user and role."""

    business: Business
    role: str
    user: User | None = None

    @property
    def business_id(self) -> str:
        return self.business.id


@dataclass(frozen=True)
class NewBusiness:
    business: Business
    owner: User
    api_key: str


@dataclass(frozen=True)
class SignInLimits:
    """Failed sign-ins allowed per account (its email) and per address."""

    limiter: RateLimiter
    per_account: Limit
    per_address: Limit

    def keys(self, email: str, address: str | None) -> list[tuple[str, Limit]]:
        keys = [(f"signin:account:{sha256(email)}", self.per_account)]
        if address:
            keys.append((f"signin:address:{address}", self.per_address))
        return keys


class AccountsService:
    def __init__(self, session: AsyncSession, clock: Clock, *,
                 passwords: Passwords | None = None,
                 signin: SignInLimits | None = None) -> None:  # fmt: skip
        self._repo = AccountsRepository(session)
        self._clock = clock
        self._passwords = passwords or _passwords
        self._signin = signin

    async def create_business(
        self, *, name: str, owner_email: str, owner_password: str, country: str = "DE",
        currency: str = "EUR",
    ) -> NewBusiness:  # fmt: skip
        name, email = name.strip(), owner_email.strip().lower()
        if not name:
            raise NameRequired("business")
        if "@" not in email:
            raise InvalidEmail("The owner's email address is not valid.")
        check_password(owner_password, email=email)
        if len(country.strip()) != 2 or not country.isalpha():
            raise ValidationFailed("The country is a two-letter ISO code.", code="invalid_country")
        if await self._repo.user_by_email(email) is not None:
            raise EmailTaken()
        now = self._clock.now()
        business = Business(id=new_id("biz"), name=name, country=country.upper(),
                            default_currency=normalise_currency(currency),
                            connect_status=ConnectStatus.NONE, created_at=now)  # fmt: skip
        owner = User(
            id=new_id("usr"),
            business_id=business.id,
            email=email,
            name="",
            role="owner",
            password_hash=self._passwords.hash(owner_password),
            created_at=now,
        )
        await self._repo.add(business)
        try:
            await self._repo.add(owner)
        except IntegrityError:
            raise EmailTaken() from None
        key = await self.create_api_key(business.id, name="default")
        return NewBusiness(business, owner, key)

    async def add_user(
        self, business_id: str, *, email: str, password: str, role: str, name: str = ""
    ) -> User:
        email = email.strip().lower()
        if role not in ROLES or role == "owner":
            raise ValidationFailed("'role' is one of admin, agent, host, finance.",
                                   code="invalid_role")  # fmt: skip
        if "@" not in email or len(email) > 254:
            raise InvalidEmail()
        check_password(password, email=email)
        # Hashed before the address is looked up, so a taken address answers after the same
        # work as a free one.
        hashed = self._passwords.hash(password)
        message, code = EMAIL_UNAVAILABLE
        if await self._repo.user_by_email(email) is not None:
            raise Conflict(message, code=code)
        user = User(id=new_id("usr"), business_id=business_id, email=email, name=name.strip(),
                    role=role, password_hash=hashed, created_at=self._clock.now())  # fmt: skip
        try:
            await self._repo.add(user)
        except IntegrityError:
            raise Conflict(message, code=code) from None
        return user

    async def users(self, business_id: str) -> list[User]:
        return list(await self._repo.users(business_id))

    async def create_api_key(self, business_id: str, *, name: str) -> str:
        secret = "fr_" + secrets.token_urlsafe(32)
        await self._repo.add(ApiKey(id=new_id("key"), business_id=business_id, name=name,
                                    key_hash=sha256(secret), hint=secret[:7],
                                    created_at=self._clock.now()))  # fmt: skip
        return secret

    async def authenticate_api_key(self, key: str) -> Caller:
        business = await self._repo.business_by_key_hash(sha256(key))
        if business is None:
            raise Unauthenticated("The API key is not valid.", code="api_key_invalid")
        return Caller(business=business, role="api")

    async def login(self, *, email: str, password: str, address: str | None = None) -> str:
        """Check the password; returns a new session token for the cookie. ``address`` is
        the connecting peer's, for the per-address limit on failures."""
        email = email.strip().lower()
        limits = self._signin.keys(email, address) if self._signin else []
        if self._signin is not None:
            await check_all(self._signin.limiter, limits, "Too many failed sign-ins.",
                            count=False)  # fmt: skip
        # An email no address can be (a NUL, which PostgreSQL would refuse) is unknown.
        possible = len(email) <= 254 and re.fullmatch(EMAIL, email) is not None
        user = await self._repo.user_by_email(email) if possible else None
        # An unknown email is verified against a dummy hash: the answer takes as long as
        # for a known email with a wrong password, so timing does not tell which it was.
        if not self._passwords.verify(user.password_hash if user else None, password):
            if self._signin is not None:
                for key, limit in limits:
                    await self._signin.limiter.hit(key, limit=limit.count, window=limit.seconds)
            raise Unauthenticated("The email or password is wrong.", code="invalid_credentials")
        assert user is not None
        if self._signin is not None:
            await self._signin.limiter.clear(limits[0][0])  # the account's, not the address's
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        await self._repo.add(
            WebSession(
                token_hash=sha256(token),
                user_id=user.id,
                created_at=now,
                expires_at=now + SESSION_LIFETIME,
            )
        )
        return token

    async def session_caller(self, token: str | None) -> Caller:
        found = await self._repo.web_session(sha256(token), self._clock.now()) if token else None
        if found is None or found[1] is None:
            raise Unauthenticated("Please sign in.", code="not_signed_in")
        user, business = found
        assert business is not None
        return Caller(business=business, role=user.role, user=user)

    async def logout(self, token: str) -> None:
        await self._repo.delete_web_session(sha256(token))

    async def business(self, business_id: str) -> Business:
        business = await self._repo.business(business_id)
        if business is None:
            raise BusinessNotFound()
        return business

    async def user_by_email(self, email: str) -> User | None:
        return await self._repo.user_by_email(email.strip().lower())

    async def business_for_update(self, business_id: str) -> Business:
        business = await self._repo.business_for_update(business_id)
        if business is None:
            raise BusinessNotFound()
        return business


def fee_policy_for(business: Business, default: FeePolicy) -> FeePolicy:
    """The platform's fee policy with the business's overrides applied."""
    return FeePolicy(
        service_rate=parse_rate(business.fee_rate_service) if business.fee_rate_service
        else default.service_rate,
        goods_rate=parse_rate(business.fee_rate_goods) if business.fee_rate_goods
        else default.goods_rate,
        processing_bearer=business.processing_fee_bearer or default.processing_bearer,  # type: ignore[arg-type]
    )  # fmt: skip
