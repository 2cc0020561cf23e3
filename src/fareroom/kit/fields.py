"""Field types for request schemas: what the services accept, said in the OpenAPI document.

Text rules are checked here, at the edge (PostgreSQL stores no NUL, so no text may carry
one). Amounts and tariffs keep their checks in the services, which answer with a precise
``code`` (``amount_too_small``, ``invalid_tariff`` naming the field) for every caller; these
types only write the same bounds into the document, so that a client generated from it
knows them beforehand.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, StrictInt, WithJsonSchema

from fareroom.kit.money import CURRENCY_EXPONENTS, MAX_CHARGE_MINOR, MIN_CHARGE_MINOR

# A request body or frame names only its own fields.
Strict = ConfigDict(extra="forbid")
_CHAR = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"  # no control characters but tab and line breaks
PLAIN = rf"^{_CHAR}*$"
# White space spelled out, never ``\s``: the document's dialect (ECMA-262), Python's ``re`` and
# the validator's (Rust's regex) each mean other characters by it (U+0085, U+FEFF).
_SPACE = r" \t\n\r\x0b\x0c\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
# More than white space once stripped (Python's strip also takes \x1c-\x1f).
NON_BLANK = rf"^{_CHAR}*[^{_SPACE}\x00-\x1f\x7f]{_CHAR}*$"
EMAIL = rf"^[^{_SPACE}\x00-\x1f\x7f]*@[^{_SPACE}\x00-\x1f\x7f]*$"  # as the services check it
ID = r"^[A-Za-z0-9_]+$"  # ours (cli_…) and the gateway's (tok_…, pm_…)
MAYBE_ID = r"^[A-Za-z0-9_]*$"  # an id or nothing (a form's hidden field)
# What a person is told when a value does not match one of these patterns.
PATTERN_SENTENCES = {
    PLAIN: "may not contain control characters",
    NON_BLANK: "needs some text (not only spaces) and no control characters",
    EMAIL: "must be an email address, like ada@example.com",
    ID: "must be an id (letters, digits and _ only)",
    MAYBE_ID: "must be an id (letters, digits and _ only)",
}


def said(error: dict[str, Any]) -> str:
    """A validation error's message, in words for a person where ours is known."""
    if error.get("type") == "string_pattern_mismatch":
        pattern = str((error.get("ctx") or {}).get("pattern"))
        return PATTERN_SENTENCES.get(pattern, "is not in the expected form")
    return str(error.get("msg", ""))


def text(max_length: int, default: Any = ..., *, blank: bool = False) -> Any:
    """Text of at most ``max_length`` characters; not blank unless ``blank``."""
    return Field(default, min_length=0 if blank else 1, max_length=max_length,
                 pattern=PLAIN if blank else NON_BLANK)  # fmt: skip


def ident(default: Any = ..., **kwargs: Any) -> Any:
    return Field(default, min_length=1, max_length=40, pattern=ID, **kwargs)


def whole(low: int, high: int, description: str = "") -> WithJsonSchema:
    """An integer from ``low`` to ``high`` in the document; the service checks it."""
    schema: dict[str, Any] = {"type": "integer", "minimum": low, "maximum": high}
    if description:
        schema["description"] = description
    return WithJsonSchema(schema)


def integral(value: Any) -> Any:
    """JSON has one kind of number: 300.0 is the integer 300 (300.5 stays refused)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Whole = Annotated[StrictInt, BeforeValidator(integral)]
Email = Annotated[str, Field(min_length=3, max_length=254, pattern=EMAIL)]
Charge = Annotated[Whole, whole(MIN_CHARGE_MINOR, MAX_CHARGE_MINOR,
                                    "Minor units (cents), from 0.50 to 999,999.99")]  # fmt: skip
Refund = Annotated[Whole, whole(1, MAX_CHARGE_MINOR, "Minor units (cents)")]
Currency = Annotated[str, Field(max_length=8), WithJsonSchema(
    {"type": "string", "enum": sorted(CURRENCY_EXPONENTS),
     "description": "ISO 4217; a business charges in its own currency"})]  # fmt: skip
