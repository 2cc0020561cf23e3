"""The OpenAPI document: what the server accepts and every answer it can give.

FastAPI writes the request schemas from the pydantic models; this module adds what it does
not know: every error is an RFC 9457 problem (``application/problem+json``) rather than
FastAPI's ``HTTPValidationError``, which operations answer which error statuses, and the
``Idempotency-Key`` header that every write of the API honours.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from fareroom.http import PROBLEM

_DESCRIPTIONS = {
    400: "Bad request: the body is not JSON, or a rule of the request was broken",
    401: "Not authenticated: no API key, or not a valid one (or a spent visit token)",
    402: "Payment failed: the card was declined or needs authentication",
    403: "Forbidden",
    404: "Not found in this business",
    409: "Conflict with the current state (or an Idempotency-Key still in use)",
    422: "Invalid request: `code` says which rule, `errors` which fields",
    429: "Too many requests",
    502: "The payment gateway refused our credentials",
    503: "The payment gateway is unavailable; retry with the same Idempotency-Key",
}
_WRITES = {"post", "put", "patch"}


class FieldError(BaseModel):
    field: str = Field(description="Where, e.g. `body.amount` or `query.limit`")
    message: str
    type: str


class Problem(BaseModel):
    """An error (RFC 9457): ``code`` is for programs, ``detail`` for people."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    code: str = Field(description="Machine-readable, e.g. `amount_too_small`")
    detail: str = Field(description="A sentence a person understands")
    errors: list[FieldError] | None = Field(
        default=None, description="With `invalid_request`: each field that is wrong"
    )


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route or router: the error statuses it may answer."""
    return {status: {"description": _DESCRIPTIONS[status]} for status in statuses}


_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Retry-safe writes: a retry with the same key and body gets the first "
    "answer and moves money once",
    # Printable ASCII, no white space at either end (HTTP clients strip or refuse it).
    "schema": {"type": "string", "maxLength": 255, "pattern": r"^[!-~]([ -~]*[!-~])?$"},
}


def _errors_of(path: str, method: str, op: dict[str, Any]) -> set[int]:
    """The statuses every operation of its kind can answer, beside those it declares."""
    params = op.get("parameters", [])
    found = {int(s) for s in op.get("responses", {}) if s.isdigit() and int(s) >= 400}
    if "requestBody" in op:
        found |= {400, 422}  # malformed JSON; a field out of its bounds
    if params:
        found.add(422)
    if "security" in op or any(p["name"] == "X-Visit-Token" for p in params):
        found.add(401)
    if any(p["in"] == "path" for p in params):
        found.add(404)
    if method in _WRITES and path.startswith("/api/"):
        found |= {409, 422}  # the Idempotency-Key in use, or reused with another body
    return found


def _document(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(title=app.title, version=app.version, description=app.description,
                      routes=app.routes)  # fmt: skip
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    defs = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(defs.pop("$defs", {}))
    schemas["Problem"] = defs
    problem = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in doc.get("paths", {}).items():
        for method, op in operations.items():
            if method in _WRITES and path.startswith("/api/"):
                op.setdefault("parameters", []).append(_IDEMPOTENCY_KEY)
            responses = op.setdefault("responses", {})
            for status in sorted(_errors_of(path, method, op)):
                responses[str(status)] = {
                    "description": _DESCRIPTIONS[status],
                    "content": problem,
                }
    return doc


def install(app: FastAPI) -> None:
    """Serve ``_document`` (built once) as the app's OpenAPI document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
