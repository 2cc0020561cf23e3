"""Bills through the API: made one by one or from a CSV file, read, listed with filters,
cancelled and written off, each change moving the same amount in the ledger; bad input is
refused whole with a sentence and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from fareroom.bootstrap import Context
from fareroom.ledger.service import AccountRef, business
from tests.conftest import Tenant


def _bill(client_id: str, **extra: Any) -> dict[str, Any]:
    return {"client_id": client_id, "due_on": "2030-01-31", "reference": "INV-1",
            "lines": [{"description": "Coaching, 3 sessions", "quantity": 3,
                       "unit_amount": 4_000},
                      {"description": "Workbook", "unit_amount": 1_250}], **extra}  # fmt: skip


async def receivable(ctx: Context, t: Tenant, client_id: str) -> tuple[int, int]:
    """The client's receivable and the business's bills outstanding."""
    async with ctx.unit_of_work() as s:
        owed = await s.ledger.balance(AccountRef("client_receivable", "EUR", t.id, client_id))
        outstanding = await s.ledger.balance(business("bills_outstanding", "EUR", t.id))
        assert await s.ledger.verify() == []
    return owed, outstanding


async def test_a_bill_adds_up_its_lines_and_moves_its_amount_into_the_clients_receivable(
    ctx: Context, tenant: Tenant
) -> None:
    client = await tenant.client()
    r = await tenant.api.post("/api/v1/bills", json=_bill(client["id"], tag="coaching"))
    assert r.status_code == 201, r.text
    bill = r.json()
    assert (bill["amount"], bill["amount_due"], bill["status"], bill["currency"]) == (
        13_250, 13_250, "unsettled", "EUR")  # fmt: skip
    assert [(x["quantity"], x["unit_amount"], x["amount"]) for x in bill["lines"]] == [
        (3, 4_000, 12_000), (1, 1_250, 1_250)]  # fmt: skip
    assert bill["issued_on"] == ctx.clock.now().date().isoformat()
    assert await receivable(ctx, tenant, client["id"]) == (13_250, 13_250)
    got = (await tenant.api.get(f"/api/v1/bills/{bill['id']}")).json()
    assert got == bill


async def test_cancelling_a_bill_takes_it_out_of_the_receivable_once(
    ctx: Context, tenant: Tenant
) -> None:
    client = await tenant.client()
    bill = (await tenant.api.post("/api/v1/bills", json=_bill(client["id"]))).json()
    r = await tenant.api.post(f"/api/v1/bills/{bill['id']}/cancel")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["amount_due"]) == ("cancelled", 0)
    assert await receivable(ctx, tenant, client["id"]) == (0, 0)
    again = await tenant.api.post(f"/api/v1/bills/{bill['id']}/write-off")
    assert (again.status_code, again.json()["code"]) == (409, "bill_closed")
    assert await receivable(ctx, tenant, client["id"]) == (0, 0)


async def test_writing_off_a_bill_gives_up_what_it_claims(ctx: Context, tenant: Tenant) -> None:
    client = await tenant.client()
    bill = (await tenant.api.post("/api/v1/bills", json=_bill(client["id"]))).json()
    r = await tenant.api.post(f"/api/v1/bills/{bill['id']}/write-off")
    assert r.json()["status"] == "written_off"
    assert await receivable(ctx, tenant, client["id"]) == (0, 0)


async def test_bills_are_listed_newest_first_with_filters(tenant: Tenant) -> None:
    ada, bob = await tenant.client("Ada"), await tenant.client("Bob")
    made = []
    for n, (who, tag, due) in enumerate([(ada, "a", "2030-01-10"), (bob, "b", "2030-02-10"),
                                         (ada, "b", "2030-03-10")]):  # fmt: skip
        r = await tenant.api.post("/api/v1/bills", json=_bill(
            who["id"], reference=f"INV-{n}", tag=tag, due_on=due))  # fmt: skip
        made.append(r.json()["id"])

    async def ids(query: str) -> list[str]:
        r = await tenant.api.get(f"/api/v1/bills?{query}")
        assert r.status_code == 200, r.text
        return [b["id"] for b in r.json()["data"]]

    assert await ids("") == made[::-1]
    assert await ids(f"client_id={ada['id']}") == [made[2], made[0]]
    assert await ids("tag=b") == [made[2], made[1]]
    assert await ids("due_on_or_before=2030-02-10") == [made[1], made[0]]
    assert await ids("status=paid") == []
    page = (await tenant.api.get("/api/v1/bills?limit=2")).json()
    assert page["has_more"] and [b["id"] for b in page["data"]] == made[:0:-1]


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"lines": [{"description": "Refund", "unit_amount": -500}]}, 422, "negative_amount"),
        ({"lines": [{"description": "A", "unit_amount": 500},
                    {"description": "B", "unit_amount": 500, "currency": "USD"}]},
         422, "currency_mismatch"),
        ({"currency": "USD"}, 422, "currency_mismatch"),
        ({"lines": [{"description": "Gum", "unit_amount": 10}]}, 422, "invalid_total"),
        ({"lines": [{"description": "All", "quantity": 100_000, "unit_amount": 99_999_999}]},
         422, "invalid_total"),
        ({"lines": [{"description": "A", "quantity": 0, "unit_amount": 500}]}, 422,
         "invalid_quantity"),
        ({"lines": []}, 422, "invalid_request"),
        ({"issued_on": "2030-02-01", "due_on": "2030-01-01"}, 422, "invalid_due_date"),
        ({"reference": "no spaces allowed"}, 422, "invalid_request"),
        ({"client_id": "cli_nobody"}, 404, "client_not_found"),
        ({"lines": [{"description": "A", "unit_amount": 1.5}]}, 422, "invalid_request"),
    ],
)  # fmt: skip
async def test_a_bad_bill_is_refused_with_its_reason_and_nothing_is_written(
    ctx: Context, tenant: Tenant, change: dict[str, Any], status: int, code: str
) -> None:
    client = await tenant.client()
    r = await tenant.api.post("/api/v1/bills", json={**_bill(client["id"]), **change})
    assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert r.json()["detail"]
    assert (await tenant.api.get("/api/v1/bills")).json()["data"] == []
    assert await receivable(ctx, tenant, client["id"]) == (0, 0)


async def test_a_reference_is_the_businesss_own_once(tenant: Tenant, other_tenant: Tenant) -> None:
    client, theirs = await tenant.client(), await other_tenant.client()
    assert (await tenant.api.post("/api/v1/bills", json=_bill(client["id"]))).status_code == 201
    again = await tenant.api.post("/api/v1/bills", json=_bill(client["id"]))
    assert (again.status_code, again.json()["code"]) == (409, "reference_taken")
    # another business may use the same number
    assert (
        await other_tenant.api.post("/api/v1/bills", json=_bill(theirs["id"]))
    ).status_code == 201


async def test_another_businesss_bill_and_client_are_not_there(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = await other_tenant.client()
    bill = (await other_tenant.api.post("/api/v1/bills", json=_bill(theirs["id"]))).json()
    for r in (await tenant.api.get(f"/api/v1/bills/{bill['id']}"),
              await tenant.api.post(f"/api/v1/bills/{bill['id']}/cancel")):  # fmt: skip
        assert (r.status_code, r.json()["code"]) == (404, "bill_not_found")
    r = await tenant.api.post("/api/v1/bills", json=_bill(theirs["id"], reference="X-1"))
    assert (r.status_code, r.json()["code"]) == (404, "client_not_found")
    assert (await other_tenant.api.get(f"/api/v1/bills/{bill['id']}")).json()["status"] == (
        "unsettled")  # fmt: skip


CSV = """client,reference,due_on,tag,line,quantity,unit_price
{ada},INV-10,2030-01-31,north,Coaching,2,"1,200.00"
{ada},INV-10,2030-01-31,north,Workbook,,12.50
{bob_email},INV-11,2030-02-28,south,Lesson,1,45
"""


async def _import(t: Tenant, text: str) -> Any:
    return await t.api.post("/api/v1/bills/import", content=text.encode(),
                            headers={"content-type": "text/csv"})  # fmt: skip


async def test_a_csv_file_makes_a_bill_per_reference_with_a_line_per_row(
    ctx: Context, tenant: Tenant
) -> None:
    ada = await tenant.client("Ada")
    r = await tenant.api.post("/api/v1/clients", json={"name": "Bob", "email": "bob@example.com"})
    bob = r.json()
    r = await _import(tenant, CSV.format(ada=ada["id"], bob_email="Bob@Example.com"))
    assert r.status_code == 201, r.text
    bills = {b["reference"]: b for b in r.json()["bills"]}
    assert r.json()["created"] == 2
    assert (bills["INV-10"]["amount"], bills["INV-10"]["client_id"], bills["INV-10"]["tag"]) == (
        241_250, ada["id"], "north")  # fmt: skip
    assert [x["amount"] for x in bills["INV-10"]["lines"]] == [240_000, 1_250]
    assert (bills["INV-11"]["amount"], bills["INV-11"]["client_id"]) == (4_500, bob["id"])
    assert await receivable(ctx, tenant, ada["id"]) == (241_250, 245_750)


@pytest.mark.parametrize(
    ("bad_row", "row", "reason"),
    [
        ("{ada},INV-12,2030-01-31,north,Refund,1,-5.00", 5, "invalid_amount"),
        ("{ada},INV-12,2030-13-01,north,Lesson,1,5.00", 5, "invalid_date"),
        ("{ada},INV-12,2030-01-31,north,Lesson,1,\"1,00\"", 5, "invalid_amount"),
        ("nobody@example.com,INV-12,2030-01-31,north,Lesson,1,5.00", 5, "client_not_found"),
        ("{ada},INV-10,2030-02-01,north,Extra,1,5.00", 5, None),  # INV-10's fields differ
        ("{ada},INV-12,2030-01-31,north,,1,5.00", 5, "csv_field_required"),
        ("{ada},INV-12,2030-01-31,north,Lesson,²,5.00", 5, "invalid_number"),
    ],
)  # fmt: skip
async def test_one_bad_row_refuses_the_file_naming_the_row_and_nothing_is_written(
    ctx: Context, tenant: Tenant, bad_row: str, row: int, reason: str | None
) -> None:
    ada = await tenant.client("Ada")
    await tenant.api.post("/api/v1/clients", json={"name": "Bob", "email": "bob@example.com"})
    text = CSV.format(ada=ada["id"], bob_email="bob@example.com") + bad_row.format(ada=ada["id"])
    r = await _import(tenant, text + "\n")
    assert (r.status_code, r.json()["code"], r.json()["row"]) == (422, "csv_bad_row", row), r.text
    assert r.json().get("reason") == reason
    assert r.json()["detail"].startswith(f"Row {row}: ")
    assert r.json()["detail"].endswith("Nothing was imported.")
    assert (await tenant.api.get("/api/v1/bills")).json()["data"] == []
    assert await receivable(ctx, tenant, ada["id"]) == (0, 0)


async def test_a_file_without_the_columns_says_which_are_missing(tenant: Tenant) -> None:
    r = await _import(tenant, "who,what\nAda,Lesson\n")
    assert (r.status_code, r.json()["code"]) == (422, "csv_columns")
    assert r.json()["missing"] == ["client", "reference", "due_on", "line", "unit_price"]
    r = await _import(tenant, "")
    assert (r.status_code, r.json()["code"]) == (422, "csv_columns")
    r = await _import(tenant, "client,reference,due_on,line,unit_price\n")
    assert (r.status_code, r.json()["code"]) == (422, "csv_empty")


async def test_the_same_file_imported_twice_is_refused_the_second_time(tenant: Tenant) -> None:
    ada = await tenant.client("Ada")
    await tenant.api.post("/api/v1/clients", json={"name": "Bob", "email": "bob@example.com"})
    text = CSV.format(ada=ada["id"], bob_email="bob@example.com")
    assert (await _import(tenant, text)).status_code == 201
    again = await _import(tenant, text)
    assert (again.status_code, again.json()["code"]) == (409, "reference_taken")
    assert len((await tenant.api.get("/api/v1/bills")).json()["data"]) == 2
