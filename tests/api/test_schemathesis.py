"""Schemathesis over the whole OpenAPI document: every operation, with data the document
allows and data it forbids, as a real tenant (its API key) and a real visit (its token).

No answer may be a 5xx; every answer's status, content type and body must be documented;
data the document allows must not be refused as invalid (a client generated from it must
work), except for the few rules a JSON schema cannot state (``BEYOND_SCHEMA``); data it
forbids must be refused. ``FAREROOM_FUZZ_EXAMPLES`` sets the examples per operation and
mode (default 25).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as examples
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi import checks

from fareroom.app import create_app
from fareroom.bootstrap import Context
from fareroom.config import Settings
from tests.conftest import Tenant
from tests.support.presence import agent_online

EXAMPLES = int(os.environ.get("FAREROOM_FUZZ_EXAMPLES", "25"))

# Refusals of schema-valid data that no JSON schema can state: they depend on stored state
# or on two fields at once. Each one is a 4xx with its own code.
BEYOND_SCHEMA = {
    "currency_mismatch": "a business charges in its own currency",
    "total_mismatch": "the total is the sum of the line items",
    "invalid_total": "the line items add up to 0.50 .. 999,999.99",
    "split_threshold_below_minimum": "the split threshold is at least the block price",
    "amount_exceeds_hold": "a capture is at most the hold",
    "amount_exceeds_refundable": "a refund is at most what is left",
    "invalid_period": "a period's end comes after its start",
    "invalid_expiry": "a card's expiry is not in the past",
    "signature_invalid": "a webhook is signed with the webhook secret",
    "idempotency_key_reused": "an Idempotency-Key goes with one request body",
    "agent_not_in_room": "the agent takes chats in the room",
    "not_an_agent": "the user is an owner, admin or agent",
    "email_unavailable": "one user per email address, in any business",
    "weak_password": "a password is not a common one, a run or repeat, nor the email",
    "invalid_cursor": "a page's cursor names a payment of this business",
    "agent_not_found": "the agents named in a room are users of this business",
    "token_invalid": "a card token is one the gateway issued and that is not used yet",
    "invalid_due_date": "a bill is due on or after the day it is issued",
    "invalid_date": "a bill's dates lie between 2000 and 2100, on days of the calendar",
    "csv_columns": "a bills file's first row names its columns",
    "csv_empty": "a bills file has a bill in it",
    "csv_bad_row": "each row of a bills file is a line of a good bill",
    "csv_invalid": "a bills file is UTF-8 text",
    "invalid_criteria": "a run selects by a due date or days ahead, with min <= max amount",
    "run_definition_not_found": "a run of a definition names one of this business",
    "invalid_auto_topup": "both a threshold and a target, the target a charge above it",
}
_CHECKS = [not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
           checks.response_schema_conformance, checks.negative_data_rejection]  # fmt: skip


def _accepts_valid_data(response: Any, case: Any) -> str | None:
    """Why schema-valid data was refused, unless it is a rule beyond the schema."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    if response.status_code not in (400, 422):
        return None
    code = response.json().get("code") if response.content else None
    if code in BEYOND_SCHEMA or _python_dollar(case):
        return None
    return f"valid data refused with {response.status_code} {code}: {response.text[:300]}"


def _ends_a_line(value: Any) -> bool:
    if isinstance(value, str):
        return value.endswith("\n")
    if isinstance(value, dict):
        return any(_ends_a_line(v) for v in value.values())
    if isinstance(value, list):
        return any(_ends_a_line(v) for v in value)
    return False


def _python_dollar(case: Any) -> bool:
    """Whether ``case`` holds a value only Python's ``re`` takes for schema-valid.

    The document's patterns follow ECMA-262 (JSON Schema's dialect), where ``$`` is the end
    of the text; the generator draws from Python's ``re``, whose ``$`` also matches before a
    final newline, so it offers such values as valid though the document forbids them."""
    parts = ("body", "query", "path_parameters", "headers")
    return any(_ends_a_line(getattr(case, part, None)) for part in parts)


class Run:
    """The whole document, one operation and mode at a time; collects what fails."""

    def __init__(self, app: Any, api_key: str, visit_token: str) -> None:
        self.schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        self.auth = {"Authorization": f"Bearer {api_key}"}
        self.visit = {"X-Visit-Token": visit_token}
        self.sent = 0
        self.failures: list[str] = []

    def all(self) -> None:
        for result in self.schema.get_all_operations():
            operation = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                self.one(operation, mode)

    def one(self, operation: Any, mode: GenerationMode) -> None:
        fixed = dict(self.auth)
        if any(p.name == "X-Visit-Token" for p in operation.headers):
            fixed |= self.visit  # the visit endpoints are reached with the real visit

        # No shrinking: each operation runs its examples once, so the run stays bounded.
        @examples(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), print_blob=False,
                  phases=[Phase.explicit, Phase.generate])  # fmt: skip
        @given(case=operation.as_strategy(generation_mode=mode, headers=fixed))
        def exercise(case: Any) -> None:
            self.sent += 1
            response = case.call()
            case.validate_response(response, checks=_CHECKS)
            refused = _accepts_valid_data(response, case)
            assert refused is None, refused

        began, sent = time.monotonic(), self.sent
        try:
            exercise()
        except Unsatisfiable:  # nothing to negate: the operation takes no input
            assert mode is GenerationMode.NEGATIVE, operation.label
        except (Exception, BaseExceptionGroup) as exc:  # every operation runs; all are shown
            self.failures.append(f"{operation.label} [{mode.value}]: {exc}"[:1500])
        if os.environ.get("FAREROOM_FUZZ_VERBOSE") == "1":
            print(
                f"{operation.label} {mode.value}: {self.sent - sent} in "
                f"{time.monotonic() - began:.1f} s"
            )


@pytest.fixture
async def visit_token(ctx: Context, tenant: Tenant) -> str:
    r = await tenant.api.post("/api/v1/chat-rooms", json={
        "name": "Fuzzed", "terms": "Per minute as shown.", "agent_ids": [tenant.owner_id],
        "tariff": {"block_minutes": 5, "block_price": 1000, "preauth_amount": 2000}})  # fmt: skip
    assert r.status_code == 201, r.text
    await agent_online(ctx, tenant.id, tenant.owner_id)
    v = await tenant.api.post("/chat/api/visits", json={
        "room_id": r.json()["id"], "name": "Vi", "email": "vi@example.com",
        "question": "Hello?"})  # fmt: skip
    assert v.status_code == 201, v.text
    return str(v.json()["token"])


async def test_every_operation_answers_as_its_openapi_document_says(
    tenant: Tenant, visit_token: str, settings: Settings
) -> None:
    # An app of its own: schemathesis drives it from a thread with its own event loop.
    app = create_app(settings=settings, watch=False)
    run = Run(app, tenant.api_key, visit_token)
    started = time.monotonic()
    stop: Callable[[], None] = schemathesis.python.asgi.shutdown_lifespans
    try:
        await asyncio.to_thread(run.all)
    finally:
        await asyncio.to_thread(stop)
    print(f"schemathesis: {run.sent} requests in {time.monotonic() - started:.0f} s")
    assert run.sent > 0
    assert not run.failures, "\n\n".join(run.failures)
