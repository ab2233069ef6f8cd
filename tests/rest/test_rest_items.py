"""REST item endpoints through the ASGI app: reading a balance, update-quantity in its three
meanings (grant, the atomic tryDecrease, a decrease that may go negative), dated grants,
idempotency keys, who may call, and every kind of bad input: 400 naming the field, and
nothing written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_testing import Rest, counts, error

pytestmark = [pytest.mark.usefixtures("example_catalog"),
              pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")]


async def test_a_new_users_item_reads_its_free_plan_credits(rest: Rest) -> None:
    response = await rest.get("/items/user/u1/credits")
    assert response.status_code == 200
    assert response.json() == {"id": "credits", "display_name": "AI credits", "quantity": 100,
                               "non_negative_quantity": 100}


async def test_grant_try_decrease_and_decrease(rest: Rest) -> None:
    assert (await rest.update_quantity(50)).json() == {}
    assert await rest.quantity() == 150
    assert (await rest.update_quantity(-150, allow_negative="false")).status_code == 200
    assert await rest.quantity() == 0
    refused = await rest.update_quantity(-1, allow_negative="false")
    error(refused, 400, "INSUFFICIENT_QUANTITY", "delta")
    assert await rest.quantity() == 0
    assert (await rest.update_quantity(-7, allow_negative="true")).status_code == 200
    item = (await rest.get("/items/user/u1/credits")).json()
    assert (item["quantity"], item["non_negative_quantity"]) == (-7, 0)


async def test_the_stack_header_is_a_secret_key_too(rest: Rest) -> None:
    stack = rest.as_server(stack_header=True)
    assert (await stack.update_quantity(5)).status_code == 200
    assert await stack.quantity() == 105


async def test_a_dated_grant_leaves_at_its_time(rest: Rest, runtime) -> None:  # noqa: ANN001
    expires = runtime.clock.now() + timedelta(hours=1)
    response = await rest.update_quantity(30, expires_at=expires.isoformat())
    assert response.status_code == 200, response.text
    assert await rest.quantity() == 130
    runtime.clock.offset += timedelta(hours=2)
    assert await rest.quantity() == 100


async def test_an_idempotency_key_applies_a_change_once(rest: Rest, db) -> None:  # noqa: ANN001
    for _ in range(3):
        response = await rest.update_quantity(-10, idempotency_key="order-1")
        assert response.status_code == 200, response.text
    assert await rest.quantity() == 90
    before = await counts(db)
    reused = await rest.update_quantity(-11, idempotency_key="order-1")
    error(reused, 409, "IDEMPOTENCY_KEY_REUSED")
    assert await counts(db) == before and await rest.quantity() == 90


async def test_unknown_item_is_404_and_a_type_mismatch_400(rest: Rest) -> None:
    error(await rest.get("/items/user/u1/gems"), 404, "ITEM_NOT_FOUND", "item_id")
    error(await rest.update_quantity(1, item_id="gems"), 404, "ITEM_NOT_FOUND", "item_id")
    error(await rest.update_quantity(1, item_id="seats"), 400, "CUSTOMER_TYPE_MISMATCH")


@pytest.mark.parametrize(("body", "params", "field"), [
    ({"delta": 1.5}, {"allow_negative": "false"}, "delta"),
    ({"delta": "5"}, {"allow_negative": "false"}, "delta"),
    ({"delta": 5.0}, {"allow_negative": "false"}, "delta"),
    ({"delta": True}, {"allow_negative": "false"}, "delta"),
    ({"delta": 0}, {"allow_negative": "false"}, "delta"),
    ({"delta": 2**40}, {"allow_negative": "false"}, "delta"),
    ({}, {"allow_negative": "false"}, "delta"),
    ({"delta": 5, "colour": "red"}, {"allow_negative": "false"}, "colour"),
    ({"delta": 5}, {}, "allow_negative"),
    ({"delta": 5}, {"allow_negative": "maybe"}, "allow_negative"),
    ({"delta": 5, "expires_at": "yesterday"}, {"allow_negative": "false"}, "expires_at"),
    ({"delta": 5, "expires_at": "2020-01-01T00:00:00Z"}, {"allow_negative": "false"}, "expires_at"),
    ({"delta": -5, "expires_at": "2099-01-01T00:00:00Z"}, {"allow_negative": "true"}, "expires_at"),
    ({"delta": 5, "idempotency_key": ""}, {"allow_negative": "false"}, "idempotency_key"),
    ([5], {"allow_negative": "false"}, "body"),
])
async def test_bad_update_quantity_input_is_400_naming_the_field(
        rest: Rest, db, body, params, field) -> None:  # noqa: ANN001
    await rest.quantity()  # the customer and its Free plan exist before
    before = await counts(db)
    response = await rest.post("/items/user/u1/credits/update-quantity", body, **params)
    error(response, 400, "INVALID_INPUT", field)
    assert await counts(db) == before and await rest.quantity() == 100


@pytest.mark.parametrize(("content", "field"), [
    (b'{"delta": 5', "body"),
    (b"not json", "body"),
    (b'{"delta": 5}' + b" " * 1_000_001, "body"),
])
async def test_malformed_or_oversized_bodies_are_400(rest: Rest, db, content, field) -> None:  # noqa: ANN001
    await rest.quantity()
    before = await counts(db)
    response = await rest.post("/items/user/u1/credits/update-quantity", content=content,
                               allow_negative="false")
    error(response, 400, "INVALID_INPUT", field)
    assert await counts(db) == before


@pytest.mark.parametrize(("path", "field"), [
    ("/items/org/u1/credits", "customer_type"),
    ("/items/USERS/u1/credits", "customer_type"),
    (f"/items/user/{'x' * 201}/credits", "customer_id"),
])
async def test_bad_customers_are_400(rest: Rest, db, path, field) -> None:  # noqa: ANN001
    error(await rest.get(path), 400, "INVALID_INPUT", field)
    error(await rest.post(f"{path}/update-quantity", {"delta": 1}, allow_negative="false"),
          400, "INVALID_INPUT", field)
    assert await counts(db) == (0, 0, 0, 0)


async def test_who_may_read_and_change_balances(rest: Rest) -> None:
    user = rest.as_user("u1", teams={"t1": "member"})
    assert (await user.get("/items/user/u1/credits")).status_code == 200
    assert (await user.get("/items/team/t1/seats")).status_code == 200
    error(await user.get("/items/user/u2/credits"), 403, "FORBIDDEN")
    error(await user.get("/items/custom/c1/tokens"), 403, "FORBIDDEN")
    error(await user.update_quantity(5), 403, "FORBIDDEN")
    assert await rest.quantity() == 100
    error(await rest.as_({}).get("/items/user/u1/credits"), 401, "UNAUTHENTICATED")
    error(await rest.as_({"Authorization": "Bearer nope"}).get("/items/user/u1/credits"),
          401, "UNAUTHENTICATED")
    error(await rest.as_({"x-stack-secret-server-key": "nope"}).update_quantity(5),
          401, "UNAUTHENTICATED")
    token = user.headers["Authorization"].split()[1]
    error(await rest.as_({"x-stack-secret-server-key": token}).update_quantity(5),
          401, "UNAUTHENTICATED")
    assert await rest.quantity() == 100


async def test_rest_writes_with_a_secret_key_are_operator_actions(rest: Rest, api) -> None:  # noqa: ANN001
    assert (await rest.update_quantity(5)).status_code == 200
    assert (await rest.update_quantity(-500, allow_negative="false")).status_code == 400
    assert (await rest.get("/items/user/u1/credits")).status_code == 200  # a read: not logged
    client = rest.as_user("u1")
    await client.get("/items/user/u1/credits")
    actions = await api.data("{ operatorActions { edges { node { action target outcome via } } } }")
    logged = [e["node"] for e in actions["operatorActions"]["edges"]]
    assert [(a["target"], a["outcome"], a["via"]) for a in logged] == [
        ("USER:u1", "INSUFFICIENT_QUANTITY", "rest"), ("USER:u1", "ok", "rest")]
    assert logged[0]["action"] == logged[1]["action"]
