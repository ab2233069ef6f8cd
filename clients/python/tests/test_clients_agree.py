"""Checks without a server: the sync and async clients keep the same methods, the package
stays independent of billgate's server code, its documents match schema.graphql, and every
client package carries billgate's version."""

from __future__ import annotations

import ast
import inspect
import json
import re
import tomllib
from pathlib import Path

import pytest
from graphql import build_schema, parse, validate
from server import ROOT

import billgate_client
from billgate_client import _documents as docs
from billgate_client import _operations as ops
from billgate_client.models import CustomerRef

PACKAGE = Path(billgate_client.__file__).parent
PAIRS = [
    (billgate_client.Billgate, billgate_client.AsyncBillgate),
    (billgate_client.Customer, billgate_client.AsyncCustomer),
    (billgate_client.ItemRef, billgate_client.AsyncItemRef),
]


@pytest.mark.parametrize(("sync", "async_"), PAIRS, ids=lambda c: c.__name__)
def test_sync_and_async_have_the_same_methods(sync: type, async_: type) -> None:
    def methods(cls: type) -> dict[str, inspect.Signature]:
        return {
            name: inspect.signature(fn)
            for name, fn in vars(cls).items()
            if inspect.isfunction(fn) and not name.startswith("_")
        }

    sync_methods, async_methods = methods(sync), methods(async_)
    assert set(sync_methods) == set(async_methods)
    for name, signature in sync_methods.items():
        other = async_methods[name]
        assert list(signature.parameters) == list(other.parameters), name
        assert str(signature.return_annotation).replace("Async", "") == str(other.return_annotation).replace(
            "Async", ""
        ), name


def test_the_package_never_imports_server_code() -> None:
    imported = set()
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = imported - {"billgate_client", "__future__"} - set(__import__("sys").stdlib_module_names)
    assert third_party == {"httpx", "jwt"}


def _documents() -> dict[str, str]:
    ref = CustomerRef("USER", "u")
    built = [
        ops.get_item(ref, "i"),
        ops.list_items(ref),
        ops.list_owned_products(ref, 1, None),
        ops.list_subscriptions(ref, 1, None, None),
        ops.list_invoices(ref, 1, None),
        ops.get_billing(ref),
        ops.has_access(ref, "p"),
        ops.current_subscription(ref, None),
        ops.list_products(None, 1, None),
        ops.get_product("p"),
        ops.create_checkout_url(ref),
        ops.create_customer_portal_url(ref),
        ops.preview_switch_subscription(ref),
        ops.pay_invoice(ref),
        ops.grant_product(ref),
        ops.try_decrease(ref, "i", 1, idempotency_key=None, description=None),
        *(
            ops.change_quantity(f, ref, "i", 1, idempotency_key=None, description=None)
            for f in ("increaseItemQuantity", "decreaseItemQuantity")
        ),
        *(
            ops.change_subscription(m, ref)
            for m in (
                "switchSubscription",
                "cancelSubscription",
                "uncancelSubscription",
                "pauseSubscription",
                "resumeSubscription",
                "cancelScheduledChange",
                "updateSubscriptionQuantity",
            )
        ),
    ]
    return {
        operation.query.split("{")[0].strip() + f" #{i}": operation.query for i, operation in enumerate(built)
    }


def test_every_document_is_valid_against_schema_graphql() -> None:
    """schema.graphql is the contract: a field renamed or removed there fails here."""
    schema = build_schema((ROOT / "schema.graphql").read_text())
    documents = _documents()
    assert len(documents) == 25
    for name, query in documents.items():
        assert validate(schema, parse(query)) == [], name
    assert docs.ITEM in docs.GET_ITEM


def test_every_package_follows_billgates_version() -> None:
    server = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    client = tomllib.loads((PACKAGE.parents[1] / "pyproject.toml").read_text())["project"]["version"]
    npm = {
        name: json.loads((ROOT / "clients" / name / "package.json").read_text())["version"]
        for name in ("typescript", "react")
    }
    exported = {
        name: re.search(r'VERSION = "([^"]+)"', (ROOT / "clients" / name / "src" / "index.ts").read_text())
        for name in ("typescript", "react")
    }
    assert {
        client,
        billgate_client.__version__,
        *npm.values(),
        *(match.group(1) for match in exported.values() if match),
    } == {server}
    assert all(exported.values())
