"""Which passwords we accept, and hashing them (argon2).

A password is refused when it is shorter than 10 characters, only whitespace, one character
repeated or a run like ``abcdefghij`` / ``9876543210``, a short pattern repeated, contains
the email address or its local part, or is one of the common passwords in
``common-passwords.txt``: the 5,000 most common of the 20,000 that Django ships
(``django/contrib/auth/common-passwords.txt.gz``) plus every one of those 20,000 with at
least 10 characters, lower case, in order of frequency.
"""

from __future__ import annotations

import secrets
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from fareroom.kit.errors import ValidationFailed

MIN_LENGTH = 10
_COMMON = Path(__file__).with_name("common-passwords.txt")


@cache
def _common() -> frozenset[str]:
    return frozenset(_COMMON.read_text(encoding="utf-8").split())


def _weak(reason: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code="weak_password", reason=reason)


def _is_run(text: str) -> bool:
    """One character repeated, or each character one after the other (``abcd``, ``4321``)."""
    steps = {ord(b) - ord(a) for a, b in zip(text, text[1:], strict=False)}
    return len(steps) == 1 and steps <= {-1, 0, 1}


def _is_repeated(text: str) -> bool:
    """A pattern of up to four characters repeated (``abababab``, ``1231231231``)."""
    return any(text == (text[:n] * len(text))[: len(text)] for n in range(1, 5))


def check_password(password: str, *, email: str) -> None:
    """Refuse a weak password with ``weak_password`` and a sentence saying why."""
    if not password.strip():
        raise _weak("whitespace", "A password of only spaces is no password; choose another.")
    if len(password) < MIN_LENGTH:
        raise _weak("too_short", f"The password needs at least {MIN_LENGTH} characters.")
    folded = password.casefold()
    compact = "".join(folded.split())
    if _is_run(compact) or _is_repeated(compact):
        raise _weak("trivial", "The password is a run or a repetition of characters; "
                               "anyone could guess it.")  # fmt: skip
    email = email.strip().casefold()
    local = email.split("@", 1)[0]
    if email and (email in folded or (len(local) >= 3 and local in folded)):
        raise _weak("contains_email", "The password may not contain the email address.")
    if folded in _common() or compact in _common():
        raise _weak("common", "This password is among the most common ones; choose another.")


class Passwords:
    """argon2 hashing. A sign-in for an unknown email verifies against a fixed dummy hash,
    so it does the same work, and takes the same time, as a wrong password."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, hashed: str | None, password: str) -> bool:
        """Whether ``password`` matches ``hashed``; None (no such user) is checked against
        the dummy hash and is never a match."""
        if self._dummy is None:
            self._dummy = self.hasher.hash(secrets.token_urlsafe(16))
        try:
            self.hasher.verify(self._dummy if hashed is None else hashed, password)
        except (VerificationError, InvalidHashError):
            return False
        return hashed is not None
