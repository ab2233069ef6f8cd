"""Catalog service: apply (idempotent, archive, restore), upserts and reads, on the database."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from billgate.billing import catalog
from billgate.billing.catalog_spec import (
    CatalogSpec,
    ProductSpec,
    parse_catalog,
    parse_item,
    parse_product,
    parse_product_line,
)
from billgate.cli import load_catalog_file
from billgate.db.engine import Database
from billgate.db.models import ItemDefinition, Product, ProductLine
from billgate.errors import CatalogError

EXAMPLE = Path(__file__).parents[2] / "examples" / "catalog.yaml"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def example() -> dict[str, Any]:
    return copy.deepcopy(load_catalog_file(EXAMPLE))


def without_product(document: dict[str, Any], product_id: str) -> dict[str, Any]:
    document["products"] = [p for p in document["products"] if p["productId"] != product_id]
    return document


def find_product(document: dict[str, Any], product_id: str) -> dict[str, Any]:
    return next(p for p in document["products"] if p["productId"] == product_id)


def sorted_products(spec: CatalogSpec) -> list[ProductSpec]:
    return sorted(spec.products, key=lambda p: p.product_id)


async def apply(db: Database, document: dict[str, Any], now: datetime = T0) -> catalog.ApplyReport:
    async with db.session() as session, session.begin():
        return await catalog.apply_catalog(session, parse_catalog(document), now=now, prune=True)


async def rows(db: Database) -> dict[str, Any]:
    """Every catalog row (archived too), keyed by kind and id."""
    async with db.read_session() as session:
        found: dict[str, Any] = {}
        for model, key in (
            (ItemDefinition, "item_id"),
            (ProductLine, "product_line_id"),
            (Product, "product_id"),
        ):
            for row in (await session.scalars(select(model))).all():
                found[f"{model.__tablename__}:{getattr(row, key)}"] = row
        return found


async def product_row(db: Database, product_id: str) -> Product:
    async with db.read_session() as session:
        row = await catalog.get_product(session, product_id, include_archived=True)
    assert row is not None
    return row


class TestApplyCatalog:
    async def test_first_apply_creates_everything(self, db: Database) -> None:
        report = await apply(db, example())
        assert report.summary() == "11 created, 0 updated, 0 archived, 0 unchanged"
        assert "product pro" in report.created
        pro = await product_row(db, "pro")
        assert pro.prices[0]["amounts"] == {
            "USD": 1900,
            "EUR": 1800,
            "GBP": 1600,
            "JPY": 2900,
            "INR": 159900,
        }

    async def test_second_apply_changes_nothing(self, db: Database) -> None:
        await apply(db, example())
        before = {key: (row.updated_at, row.archived_at) for key, row in (await rows(db)).items()}

        report = await apply(db, example(), now=T0 + timedelta(days=1))

        assert report.summary() == "0 created, 0 updated, 0 archived, 11 unchanged"
        assert not report.changed
        after = {key: (row.updated_at, row.archived_at) for key, row in (await rows(db)).items()}
        assert after == before

    async def test_a_changed_entry_is_the_only_one_updated(self, db: Database) -> None:
        await apply(db, example())
        before = await rows(db)
        document = example()
        find_product(document, "pro")["prices"][0]["amounts"]["USD"] = "21.00"

        report = await apply(db, document)

        assert report.updated == ["product pro"]
        assert len(report.unchanged) == 10
        after = await rows(db)
        assert after["products:pro"].prices[0]["amounts"]["USD"] == 2100
        assert after["products:pro"].updated_at > before["products:pro"].updated_at
        assert after["products:team"].updated_at == before["products:team"].updated_at

    async def test_a_removed_product_is_archived_not_deleted(self, db: Database) -> None:
        await apply(db, example())
        later = T0 + timedelta(days=3)

        report = await apply(db, without_product(example(), "credit-pack"), now=later)

        assert report.archived == ["product credit-pack"]
        row = await product_row(db, "credit-pack")
        assert row.archived_at == later
        assert row.prices[0]["priceId"] == "once"  # still whole, for what customers own
        async with db.read_session() as session:
            assert await catalog.get_product(session, "credit-pack") is None
            live = await catalog.list_products_page(
                session, after=None, limit=100, include_server_only=True
            )
        assert "credit-pack" not in [p.product_id for p in live]

    async def test_archiving_again_keeps_the_first_archive_time(self, db: Database) -> None:
        await apply(db, example())
        await apply(db, without_product(example(), "credit-pack"), now=T0 + timedelta(days=1))

        report = await apply(
            db, without_product(example(), "credit-pack"), now=T0 + timedelta(days=2)
        )

        assert not report.changed
        assert (await product_row(db, "credit-pack")).archived_at == T0 + timedelta(days=1)

    async def test_removed_items_and_lines_are_archived(self, db: Database) -> None:
        await apply(db, example())
        document = {
            "items": [i for i in example()["items"] if i["itemId"] == "credits"],
            "productLines": [],
            "products": [],
        }

        report = await apply(db, document)

        assert sorted(report.archived) == sorted(
            [f"product {p['productId']}" for p in example()["products"]]
            + ["product line user-plans", "product line team-plans", "item seats"]
        )
        async with db.read_session() as session:
            assert [i.item_id for i in await catalog.list_item_definitions(session)] == ["credits"]
            assert await catalog.list_product_lines(session) == []

    async def test_an_archived_product_is_restored_when_it_reappears(self, db: Database) -> None:
        await apply(db, example())
        await apply(db, without_product(example(), "enterprise"))

        report = await apply(db, example())

        assert report.updated == ["product enterprise"]
        assert report.created == []
        row = await product_row(db, "enterprise")
        assert row.archived_at is None
        async with db.read_session() as session:
            assert await catalog.get_product(session, "enterprise") is not None

    async def test_changing_a_customer_type_is_refused_and_nothing_is_written(
        self, db: Database
    ) -> None:
        await apply(db, example())
        document = example()
        credit_pack = find_product(document, "credit-pack")
        credit_pack["customerType"] = "TEAM"
        credit_pack["includedItems"][0]["itemId"] = "seats"
        find_product(document, "pro")["displayName"] = "Pro (renamed)"

        with pytest.raises(CatalogError) as caught:
            await apply(db, document)

        assert caught.value.message == (
            "product 'credit-pack': customerType: cannot change from USER to TEAM "
            "(customers may already own it); use a new id"
        )
        assert caught.value.field == ["customerType"]
        assert (await product_row(db, "pro")).display_name == "Pro"

    async def test_the_type_of_an_archived_product_cannot_change_either(self, db: Database) -> None:
        await apply(db, example())
        await apply(db, without_product(example(), "credit-pack"))
        document = example()
        find_product(document, "credit-pack").update(customerType="TEAM", includedItems=[])

        with pytest.raises(
            CatalogError, match="product 'credit-pack': customerType: cannot change"
        ):
            await apply(db, document)

    async def test_changing_an_item_type_is_refused(self, db: Database) -> None:
        await apply(
            db, {"items": [{"itemId": "credits", "displayName": "C", "customerType": "USER"}]}
        )
        with pytest.raises(
            CatalogError, match="item 'credits': customerType: cannot change from USER to TEAM"
        ):
            await apply(
                db, {"items": [{"itemId": "credits", "displayName": "C", "customerType": "TEAM"}]}
            )

    async def test_a_product_can_move_to_a_new_line_in_one_apply(self, db: Database) -> None:
        await apply(db, example())
        document = example()
        document["productLines"].append(
            {"productLineId": "legacy", "displayName": "Legacy", "customerType": "USER"}
        )
        find_product(document, "enterprise")["productLineId"] = "legacy"

        report = await apply(db, document)

        assert report.created == ["product line legacy"]
        assert report.updated == ["product enterprise"]
        assert (await product_row(db, "enterprise")).product_line_id == "legacy"


class TestUpserts:
    async def test_upsert_item_creates_then_updates(self, db: Database) -> None:
        async with db.session() as session, session.begin():
            created = await catalog.upsert_item(
                session,
                parse_item({"itemId": "credits", "displayName": "Credits", "customerType": "USER"}),
            )
        async with db.session() as session, session.begin():
            updated = await catalog.upsert_item(
                session,
                parse_item(
                    {"itemId": "credits", "displayName": "AI credits", "customerType": "USER"}
                ),
            )
        assert updated.id == created.id
        async with db.read_session() as session:
            row = await catalog.get_item_definition(session, "credits")
        assert row is not None and row.display_name == "AI credits"

    async def test_upsert_item_refuses_a_type_change(self, db: Database) -> None:
        async with db.session() as session, session.begin():
            await catalog.upsert_item(
                session,
                parse_item({"itemId": "credits", "displayName": "Credits", "customerType": "USER"}),
            )
        with pytest.raises(CatalogError, match="item 'credits': customerType: cannot change"):
            async with db.session() as session, session.begin():
                await catalog.upsert_item(
                    session,
                    parse_item(
                        {"itemId": "credits", "displayName": "Credits", "customerType": "TEAM"}
                    ),
                )

    async def test_upsert_product_line_refuses_a_type_change(self, db: Database) -> None:
        async with db.session() as session, session.begin():
            await catalog.upsert_product_line(
                session,
                parse_product_line(
                    {"productLineId": "plans", "displayName": "Plans", "customerType": "USER"}
                ),
            )
        with pytest.raises(CatalogError, match="product line 'plans': customerType: cannot change"):
            async with db.session() as session, session.begin():
                await catalog.upsert_product_line(
                    session,
                    parse_product_line(
                        {"productLineId": "plans", "displayName": "Plans", "customerType": "CUSTOM"}
                    ),
                )

    async def test_upsert_product_checks_references_against_the_live_catalog(
        self, db: Database
    ) -> None:
        await apply(db, example())
        spec = parse_product(
            {
                "productId": "max",
                "displayName": "Max",
                "customerType": "USER",
                "productLineId": "user-plans",
                "includedItems": [{"itemId": "seats", "quantity": 1}],
            }
        )
        with pytest.raises(CatalogError, match="item 'seats' is for TEAM customers"):
            async with db.session() as session, session.begin():
                await catalog.upsert_product(session, spec)
        async with db.read_session() as session:
            assert await catalog.get_product(session, "max", include_archived=True) is None

    async def test_upsert_product_refuses_a_second_include_by_default_in_a_line(
        self, db: Database
    ) -> None:
        await apply(db, example())
        spec = parse_product(
            {
                "productId": "starter",
                "displayName": "Starter",
                "customerType": "USER",
                "productLineId": "user-plans",
                "includedByDefault": True,
            }
        )
        with pytest.raises(CatalogError, match="already has the include-by-default product 'free'"):
            async with db.session() as session, session.begin():
                await catalog.upsert_product(session, spec)

    async def test_upsert_product_replaces_the_include_by_default_product_itself(
        self, db: Database
    ) -> None:
        await apply(db, example())
        document = find_product(example(), "free")
        document["displayName"] = "Free forever"
        async with db.session() as session, session.begin():
            row = await catalog.upsert_product(session, parse_product(document))
        assert row.display_name == "Free forever"

    async def test_an_archived_base_cannot_take_new_add_ons(self, db: Database) -> None:
        await apply(db, example())
        await apply(db, without_product(without_product(example(), "extra-seats"), "team"))
        spec = parse_product(find_product(example(), "extra-seats"))
        with pytest.raises(
            CatalogError, match="isAddOnTo\\[0\\]: base product 'team' does not exist"
        ):
            async with db.session() as session, session.begin():
                await catalog.upsert_product(session, spec)

    async def test_upsert_product_restores_an_archived_product(self, db: Database) -> None:
        await apply(db, example())
        await apply(db, without_product(example(), "credit-pack"))
        async with db.session() as session, session.begin():
            await catalog.upsert_product(
                session, parse_product(find_product(example(), "credit-pack"))
            )
        assert (await product_row(db, "credit-pack")).archived_at is None

    async def test_upsert_product_refuses_a_type_change(self, db: Database) -> None:
        await apply(db, example())
        spec = parse_product(
            {"productId": "credit-pack", "displayName": "Pack", "customerType": "TEAM"}
        )
        with pytest.raises(
            CatalogError, match="product 'credit-pack': customerType: cannot change"
        ):
            async with db.session() as session, session.begin():
                await catalog.upsert_product(session, spec)
        assert (await product_row(db, "credit-pack")).customer_type == "USER"

    async def test_an_unchanged_upsert_does_not_touch_updated_at(self, db: Database) -> None:
        await apply(db, example())
        before = (await product_row(db, "pro")).updated_at
        async with db.session() as session, session.begin():
            await catalog.upsert_product(session, parse_product(find_product(example(), "pro")))
        assert (await product_row(db, "pro")).updated_at == before


class TestReads:
    async def test_pages_follow_product_id_and_hide_server_only(self, db: Database) -> None:
        await apply(db, example())
        async with db.read_session() as session:
            first = await catalog.list_products_page(session, after=None, limit=3)
            rest = await catalog.list_products_page(session, after=first[-1].product_id, limit=10)
            teams = await catalog.list_products_page(
                session, after=None, limit=10, customer_type=catalog.CustomerType.TEAM
            )
            everything = await catalog.list_products_page(
                session, after=None, limit=10, include_server_only=True
            )
        assert [p.product_id for p in first + rest] == [
            "credit-pack",
            "enterprise",
            "extra-seats",
            "free",
            "pro",
            "team",
        ]
        assert [p.product_id for p in teams] == ["extra-seats", "team"]
        assert "internal-grant" in [p.product_id for p in everything]

    async def test_export_is_the_applied_document_in_canonical_form(self, db: Database) -> None:
        await apply(db, example())
        async with db.read_session() as session:
            exported = await catalog.export_catalog(session)
        assert find_product(exported, "pro")["prices"][0] == {
            "priceId": "pro-monthly",
            "amounts": {
                "USD": "19.00",
                "EUR": "18.00",
                "GBP": "16.00",
                "JPY": "2900",
                "INR": "1599.00",
            },
            "interval": {"unit": "MONTH", "count": 1},
            "quantityMax": 1,
        }
        assert find_product(exported, "internal-grant")["serverOnly"] is True
        assert sorted_products(parse_catalog(exported)) == sorted_products(parse_catalog(example()))
        report = await apply(db, exported)
        assert not report.changed
