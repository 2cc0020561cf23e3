"""Stripe-style webhook signatures: ``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256>``.

The signed text is ``f"{t}.{body}"``; a signature older than ``tolerance`` seconds is refused
so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac


class SignatureInvalid(Exception):
    pass


def sign(secret: str, payload: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, payload: bytes, header: str, *, now: int, tolerance: int = 300) -> None:
    parts: dict[str, list[str]] = {}
    for item in (header or "").split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        raise SignatureInvalid("The signature header has no timestamp.") from None
    expected = sign(secret, payload, timestamp).split("v1=")[1]
    if not any(hmac.compare_digest(expected, v) for v in parts.get("v1", [])):
        raise SignatureInvalid("The signature does not match the payload.")
    if abs(now - timestamp) > tolerance:
        raise SignatureInvalid("The signature's timestamp is outside the tolerance.")
