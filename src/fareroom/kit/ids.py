"""Prefixed, time-ordered ids: ``pay_01JD3…`` (prefix, 48-bit milliseconds, 80 random bits).

Time-ordering keeps B-tree inserts local on PostgreSQL; the prefix tells a reader what an id
names (Stripe's convention). Ids are opaque to clients and never guessable.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def _b32(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_id(prefix: str) -> str:
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    return f"{prefix}_{_b32(millis, 10)}{_b32(rand, 16)}"


def has_prefix(value: str, prefix: str) -> bool:
    """``value`` is an id of ours with that prefix: at most 40 letters, digits and ``_``."""
    return (isinstance(value, str) and value.startswith(prefix + "_") and len(value) <= 40
            and value.isascii() and value.replace("_", "").isalnum())  # fmt: skip
