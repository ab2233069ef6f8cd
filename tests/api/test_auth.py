"""Who may do what: server key, customer tokens (own user, team member, team admin), no token."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest

from billgate.app import create_app
from billgate.billing.catalog import apply_catalog
from billgate.billing.catalog_spec import parse_catalog
from billgate.db.engine import Database
from billgate.graphql.ids import compound_id, global_id

# tests/conftest.py signs customer tokens with a 26-byte secret; PyJWT warns below 32 bytes.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

CUSTOMER = "query ($c: CustomerRef!) { customer(customer: $c) { id type customerId } }"
ME = "{ me { id type customerId } }"
NODE = "query ($id: ID!) { node(id: $id) { id __typename ... on Product { productId } } }"
PRODUCTS = "{ products(first: 100) { edges { node { productId prices { priceId } } } } }"
PRODUCT = "query ($id: String!) { product(productId: $id) { productId prices { priceId } } }"
LINE_PRODUCTS = "{ productLines { productLineId products { productId } } }"
ADD_ON_BASES = '{ product(productId: "boost") { isAddOnTo { productId } } }'
PAYMENT_SETTINGS = "{ paymentSettings { blockNewPurchases } }"
ITEM_DEFINITIONS = "{ itemDefinitions { itemId } }"

UPSERT_ITEM = """
mutation { upsertItemDefinition(input: {itemId: "gems", displayName: "Gems", customerType: USER}) {
  itemDefinition { itemId } userErrors { code message } } }
"""
UPSERT_LINE = """
mutation {
  upsertProductLine(input: {productLineId: "extra", displayName: "X", customerType: USER}) {
  productLine { productLineId } userErrors { code message } } }
"""
UPSERT_PRODUCT = """
mutation { upsertProduct(input: {productId: "plan", product: {displayName: "Hacked",
                                                               customerType: USER}}) {
  product { productId } userErrors { code message } } }
"""
UPDATE_SETTINGS = """
mutation { updatePaymentSettings(input: {blockNewPurchases: true}) {
  settings { blockNewPurchases } userErrors { code message } } }
"""

# A catalog with something server-only on every path a product can be reached by.
CATALOG = {
    "productLines": [{"productLineId": "plans", "displayName": "Plans", "customerType": "USER"}],
    "products": [
        {
            "productId": "plan",
            "displayName": "Plan",
            "customerType": "USER",
            "productLineId": "plans",
            "prices": [
                {"priceId": "monthly", "amounts": {"USD": "9.00"}, "interval": {"unit": "MONTH"}},
                {
                    "priceId": "staff",
                    "amounts": {"USD": "0"},
                    "interval": {"unit": "MONTH"},
                    "serverOnly": True,
                },
            ],
        },
        {
            "productId": "secret-plan",
            "displayName": "Secret plan",
            "customerType": "USER",
            "productLineId": "plans",
            "serverOnly": True,
            "prices": [{"priceId": "secret", "amounts": {"USD": "1.00"}}],
        },
        {
            "productId": "boost",
            "displayName": "Boost",
            "customerType": "USER",
            "isAddOnTo": ["plan", "secret-plan"],
            "prices": [{"priceId": "boost", "amounts": {"USD": "2.00"}}],
        },
    ],
}
PUBLIC_PRODUCTS = {"boost": ["boost"], "plan": ["monthly"]}
ALL_PRODUCTS = {"boost": ["boost"], "plan": ["monthly", "staff"], "secret-plan": ["secret"]}


@pytest.fixture
async def server_only_catalog(db: Database) -> None:
    async with db.session() as session, session.begin():
        await apply_catalog(session, parse_catalog(CATALOG), now=datetime.now(UTC))


def ref(type_: str, customer_id: str) -> dict[str, str]:
    return {"type": type_, "customerId": customer_id}


def customer_node_id(type_: str, customer_id: str) -> str:
    return global_id("Customer", compound_id(type_, customer_id))


@pytest.fixture
def token(settings: Any) -> Any:
    """Signs claims as the app's backend would (or with another secret / algorithm)."""

    def sign(claims: dict[str, Any], secret: str | None = None, algorithm: str = "HS256") -> str:
        key = settings.customer_token_secret if secret is None else secret
        return jwt.encode(claims, key, algorithm=algorithm)

    return sign


def products_by_id(data: dict[str, Any]) -> dict[str, list[str]]:
    return {
        e["node"]["productId"]: [p["priceId"] for p in e["node"]["prices"]]
        for e in data["products"]["edges"]
    }


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    assert len(body.get("errors") or []) == 1, body
    return body["errors"][0]


async def assert_unauthenticated(response: Any, message: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body == {"errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]}


class TestServerKey:
    async def test_reads_any_customer(self, api) -> None:
        for type_, customer_id in (("USER", "u1"), ("TEAM", "t9"), ("CUSTOM", "org-7")):
            data = await api.as_server().data(CUSTOMER, {"c": ref(type_, customer_id)})
            assert data["customer"] == {
                "id": customer_node_id(type_, customer_id),
                "type": type_,
                "customerId": customer_id,
            }

    async def test_sees_server_only_products_and_prices(self, api, server_only_catalog) -> None:
        assert products_by_id(await api.as_server().data(PRODUCTS)) == ALL_PRODUCTS
        data = await api.as_server().data(PRODUCT, {"id": "secret-plan"})
        assert data["product"] == {"productId": "secret-plan", "prices": [{"priceId": "secret"}]}

    async def test_me_is_null(self, api) -> None:
        assert (await api.as_server().data(ME)) == {"me": None}

    async def test_reads_payment_settings(self, api) -> None:
        assert (await api.as_server().data(PAYMENT_SETTINGS)) == {
            "paymentSettings": {"blockNewPurchases": False}
        }

    async def test_a_second_configured_key_works_too(self, app, runtime) -> None:
        server_key = runtime.secret_keys[0]
        runtime.secret_keys = (server_key, "sk_test_rotated")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.post(
                "/graphql", json={"query": ME}, headers={"Authorization": "Bearer sk_test_rotated"}
            )
        assert response.status_code == 200
        assert response.json() == {"data": {"me": None}}


class TestClientOwnUser:
    async def test_reads_its_own_user(self, api) -> None:
        data = await api.as_user("u1").data(CUSTOMER, {"c": ref("USER", "u1")})
        assert data["customer"]["customerId"] == "u1"

    async def test_me_is_its_user(self, api) -> None:
        data = await api.as_user("u1", teams={"t1": "admin"}).data(ME)
        assert data["me"] == {
            "id": customer_node_id("USER", "u1"),
            "type": "USER",
            "customerId": "u1",
        }

    async def test_node_of_its_own_customer(self, api) -> None:
        data = await api.as_user("u1").data(
            "query ($id: ID!) { node(id: $id) { ... on Customer { customerId } } }",
            {"id": customer_node_id("USER", "u1")},
        )
        assert data["node"] == {"customerId": "u1"}


class TestClockSkew:
    async def test_a_token_issued_by_a_backend_whose_clock_runs_ahead_is_accepted(
        self, api, token
    ) -> None:
        now = int(time.time())
        ahead = token({"sub": "u1", "iat": now + 30, "exp": now + 3600})
        data = await api.as_(f"Bearer {ahead}").data(ME)
        assert data["me"]["customerId"] == "u1"

    async def test_a_token_not_valid_before_a_future_time_is_refused(self, api, token) -> None:
        now = int(time.time())
        early = token({"sub": "u1", "nbf": now + 600, "exp": now + 3600})
        response = await api.as_(f"Bearer {early}").post(ME)
        await assert_unauthenticated(
            response, "invalid customer token: The token is not yet valid (nbf)"
        )


class TestClientTeams:
    @pytest.mark.parametrize("role", ["admin", "member"])
    async def test_reads_a_team_it_belongs_to(self, api, role: str) -> None:
        data = await api.as_user("u1", teams={"t1": role}).data(CUSTOMER, {"c": ref("TEAM", "t1")})
        assert data["customer"] == {
            "id": customer_node_id("TEAM", "t1"),
            "type": "TEAM",
            "customerId": "t1",
        }

    async def test_another_team_is_forbidden(self, api) -> None:
        body = await api.as_user("u1", teams={"t1": "admin"})(CUSTOMER, {"c": ref("TEAM", "t2")})
        error = only_error(body)
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert error["message"] == "not allowed to read customer TEAM t2"
        assert body["data"] is None


class TestClientOtherCustomers:
    async def test_another_user_is_forbidden(self, api) -> None:
        body = await api.as_user("u1")(CUSTOMER, {"c": ref("USER", "u2")})
        error = only_error(body)
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert error["message"] == "not allowed to read customer USER u2"

    async def test_a_team_id_equal_to_its_user_id_is_not_its_user(self, api) -> None:
        body = await api.as_user("u1", teams={"t1": "admin"})(CUSTOMER, {"c": ref("USER", "t1")})
        assert only_error(body)["extensions"]["code"] == "FORBIDDEN"

    async def test_custom_customers_are_forbidden(self, api) -> None:
        body = await api.as_user("org-7", teams={"org-7": "admin"})(
            CUSTOMER, {"c": ref("CUSTOM", "org-7")}
        )
        assert only_error(body)["extensions"]["code"] == "FORBIDDEN"

    @pytest.mark.parametrize(
        "type_, customer_id", [("USER", "u2"), ("TEAM", "t2"), ("CUSTOM", "org-7")]
    )
    async def test_node_of_another_customer_is_null(
        self, api, type_: str, customer_id: str
    ) -> None:
        data = await api.as_user("u1", teams={"t1": "admin"}).data(
            "query ($id: ID!) { node(id: $id) { id } }",
            {"id": customer_node_id(type_, customer_id)},
        )
        assert data == {"node": None}

    async def test_payment_settings_are_forbidden(self, api) -> None:
        body = await api.as_user("u1")(PAYMENT_SETTINGS)
        assert only_error(body)["extensions"]["code"] == "FORBIDDEN"


class TestBadCredentials:
    async def test_expired_token(self, api) -> None:
        response = await api.as_user("u1", ttl=-5).post(ME)
        await assert_unauthenticated(response, "customer token has expired")

    async def test_token_signed_with_another_secret(self, api, token) -> None:
        forged = token({"sub": "u1", "exp": int(time.time()) + 60}, secret="x" * 40)
        response = await api.as_(f"Bearer {forged}").post(ME)
        await assert_unauthenticated(
            response, "invalid customer token: Signature verification failed"
        )

    async def test_unsigned_token(self, api, token) -> None:
        unsigned = token({"sub": "u1", "exp": int(time.time()) + 60}, secret="", algorithm="none")
        response = await api.as_(f"Bearer {unsigned}").post(ME)
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    async def test_token_without_expiry(self, api, token) -> None:
        response = await api.as_(f"Bearer {token({'sub': 'u1'})}").post(ME)
        await assert_unauthenticated(
            response, 'invalid customer token: Token is missing the "exp" claim'
        )

    @pytest.mark.parametrize(
        "claims",
        [
            {"sub": "u1", "teams": {"t1": "owner"}},
            {"sub": "u1", "teams": ["t1"]},
            {"sub": ""},
            {"sub": "u" * 201},
            {"sub": "u1", "teams": {"": "member"}},
        ],
    )
    async def test_token_with_malformed_claims(self, api, token, claims: dict[str, Any]) -> None:
        response = await api.as_(f"Bearer {token({**claims, 'exp': int(time.time()) + 60})}").post(
            ME
        )
        assert response.status_code == 401, response.text
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
        assert error["message"].startswith("invalid customer token")

    async def test_customer_tokens_when_no_secret_is_configured(self, api, runtime) -> None:
        no_secret = replace(runtime, settings=replace(runtime.settings, customer_token_secret=""))
        transport = httpx.ASGITransport(app=create_app(runtime=no_secret))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.post(
                "/graphql",
                json={"query": ME},
                headers={"Authorization": api.as_user("u1").authorization},
            )
        await assert_unauthenticated(
            response, "customer tokens are not enabled (BILLGATE_CUSTOMER_TOKEN_SECRET is unset)"
        )

    async def test_unknown_secret_key(self, api) -> None:
        response = await api.as_("Bearer sk_test_wrong").post(ME)
        await assert_unauthenticated(response, "unknown secret key")

    @pytest.mark.parametrize("header", ["Basic {key}", "Bearer", "Bearer   ", "{key}"])
    async def test_malformed_authorization_header(self, api, settings, header: str) -> None:
        response = await api.as_(header.format(key=settings.secret_keys[0])).post(ME)
        await assert_unauthenticated(
            response, "Authorization must be 'Bearer <secret key or customer token>'"
        )

    async def test_nothing_runs_for_a_bad_credential(self, api) -> None:
        response = await api.as_("Bearer sk_test_wrong").post(UPDATE_SETTINGS)
        assert response.status_code == 401
        assert (await api.as_server().data(PAYMENT_SETTINGS))["paymentSettings"] == {
            "blockNewPurchases": False
        }


class TestNoToken:
    async def test_the_public_catalog_is_readable(self, api, example_catalog) -> None:
        anonymous = api.as_(None)
        data = await anonymous.data(PRODUCTS)
        assert sorted(products_by_id(data)) == [
            "credit-pack",
            "enterprise",
            "extra-seats",
            "free",
            "pro",
            "team",
        ]
        assert (await anonymous.data(ITEM_DEFINITIONS))["itemDefinitions"] == [
            {"itemId": "credits"},
            {"itemId": "seats"},
        ]
        assert (await anonymous.data(PRODUCT, {"id": "pro"}))["product"]["productId"] == "pro"

    async def test_customers_are_forbidden(self, api) -> None:
        body = await api.as_(None)(CUSTOMER, {"c": ref("USER", "u1")})
        assert only_error(body)["extensions"]["code"] == "FORBIDDEN"

    async def test_me_is_null(self, api) -> None:
        assert (await api.as_(None).data(ME)) == {"me": None}

    async def test_payment_settings_are_forbidden(self, api) -> None:
        assert (
            only_error(await api.as_(None)(PAYMENT_SETTINGS))["extensions"]["code"] == "FORBIDDEN"
        )


@pytest.fixture(params=["anonymous", "client"])
def public_caller(request: pytest.FixtureRequest, api: Any) -> Any:
    return (
        api.as_(None) if request.param == "anonymous" else api.as_user("u1", teams={"t1": "admin"})
    )


class TestServerOnlyIsHidden:
    async def test_in_products(self, public_caller, server_only_catalog) -> None:
        assert products_by_id(await public_caller.data(PRODUCTS)) == PUBLIC_PRODUCTS

    async def test_in_product(self, public_caller, server_only_catalog) -> None:
        assert (await public_caller.data(PRODUCT, {"id": "secret-plan"})) == {"product": None}

    async def test_server_only_prices(self, public_caller, server_only_catalog) -> None:
        data = await public_caller.data(PRODUCT, {"id": "plan"})
        assert data["product"]["prices"] == [{"priceId": "monthly"}]

    async def test_in_node(self, public_caller, server_only_catalog) -> None:
        data = await public_caller.data(NODE, {"id": global_id("Product", "secret-plan")})
        assert data == {"node": None}
        data = await public_caller.data(NODE, {"id": global_id("Product", "plan")})
        assert data["node"]["productId"] == "plan"

    async def test_in_product_line_products(self, public_caller, server_only_catalog) -> None:
        data = await public_caller.data(LINE_PRODUCTS)
        assert data["productLines"] == [
            {"productLineId": "plans", "products": [{"productId": "plan"}]}
        ]

    async def test_in_add_on_bases(self, public_caller, server_only_catalog) -> None:
        data = await public_caller.data(ADD_ON_BASES)
        assert data["product"]["isAddOnTo"] == [{"productId": "plan"}]

    async def test_the_server_sees_them_on_every_path(self, api, server_only_catalog) -> None:
        server = api.as_server()
        assert (await server.data(LINE_PRODUCTS))["productLines"][0]["products"] == [
            {"productId": "plan"},
            {"productId": "secret-plan"},
        ]
        assert (await server.data(ADD_ON_BASES))["product"]["isAddOnTo"] == [
            {"productId": "plan"},
            {"productId": "secret-plan"},
        ]
        data = await server.data(NODE, {"id": global_id("Product", "secret-plan")})
        assert data["node"]["productId"] == "secret-plan"


@pytest.fixture(params=["anonymous", "client", "team admin"])
def non_server_caller(request: pytest.FixtureRequest, api: Any) -> Any:
    return {
        "anonymous": api.as_(None),
        "client": api.as_user("u1"),
        "team admin": api.as_user("u1", teams={"t1": "admin"}),
    }[request.param]


class TestAdminMutationsNeedTheServerKey:
    @pytest.mark.parametrize(
        "mutation, field, name",
        [
            (UPSERT_ITEM, "upsertItemDefinition", "upsertItemDefinition"),
            (UPSERT_LINE, "upsertProductLine", "upsertProductLine"),
            (UPSERT_PRODUCT, "upsertProduct", "upsertProduct"),
            (UPDATE_SETTINGS, "updatePaymentSettings", "updatePaymentSettings"),
        ],
    )
    async def test_refused_with_forbidden(
        self, api, non_server_caller, server_only_catalog, mutation: str, field: str, name: str
    ) -> None:
        data = await non_server_caller.data(mutation)
        payload = data[field]
        assert payload["userErrors"] == [
            {"code": "FORBIDDEN", "message": f"{name} needs a secret key (server caller)"}
        ]
        assert [v for k, v in payload.items() if k != "userErrors"] == [None]

    async def test_nothing_is_written(self, api, non_server_caller, server_only_catalog) -> None:
        before = await api.as_server().data(
            "{ itemDefinitions { itemId } productLines { productLineId } "
            'product(productId: "plan") { displayName } paymentSettings { blockNewPurchases } }'
        )
        for mutation in (UPSERT_ITEM, UPSERT_LINE, UPSERT_PRODUCT, UPDATE_SETTINGS):
            await non_server_caller.data(mutation)
        after = await api.as_server().data(
            "{ itemDefinitions { itemId } productLines { productLineId } "
            'product(productId: "plan") { displayName } paymentSettings { blockNewPurchases } }'
        )
        assert after == before

    async def test_the_server_key_may(self, api, server_only_catalog) -> None:
        for mutation, field in (
            (UPSERT_ITEM, "upsertItemDefinition"),
            (UPSERT_LINE, "upsertProductLine"),
            (UPSERT_PRODUCT, "upsertProduct"),
            (UPDATE_SETTINGS, "updatePaymentSettings"),
        ):
            assert (await api.as_server().data(mutation))[field]["userErrors"] == []
