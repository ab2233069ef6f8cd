"""``POST /webhooks/stripe`` with a recorded Stripe behind it: signatures, each event once,
re-reading before acting, failures retried by Stripe, and the events localstripe never
sends (``setup_intent.succeeded``, ``charge.dispute.created``)."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from stripe_fakes import SECRET, FakeStripeHTTP, api_error, event, payment_intent, sign

from billgate.billing import customers
from billgate.billing.payment_methods import customer_resolver
from billgate.db.models import Customer, StripeEvent, Transaction
from billgate.payments.stripe_rails import StripeRails
from billgate.types import CustomerRef, CustomerType

USER = CustomerRef(CustomerType.USER, "u1")


@pytest.fixture
def fake() -> FakeStripeHTTP:
    return FakeStripeHTTP()


@pytest.fixture
async def runtime(db, settings, fake: FakeStripeHTTP):  # noqa: ANN001, ANN201
    from billgate.clock import TestClock
    from billgate.runtime import Runtime

    settings = dataclasses.replace(settings, stripe_secret_key="sk_test_unit",
                                   stripe_webhook_secret=SECRET)
    rails = StripeRails("sk_test_unit", http_client=fake, resolve_customer=customer_resolver(db),
                        max_network_retries=0)
    yield Runtime(settings=settings, db=db, clock=TestClock(), secret_keys=settings.secret_keys,
                  live_rails=rails)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as c:
        yield c


async def post(client: httpx.AsyncClient, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return await client.post("/webhooks/stripe", content=body, headers=headers)


async def events(db: Any) -> list[tuple[str, str, bool]]:
    async with db.read_session() as session:
        rows = (await session.scalars(select(StripeEvent).order_by(StripeEvent.id))).all()
    return [(r.event_id, r.type, r.processed_at is not None) for r in rows]


SUCCEEDED = event("payment_intent.succeeded", {"id": "pi_3QxUnitTest0001", "status": "succeeded"})


class TestSignature:
    async def test_missing_signature_is_refused_and_nothing_recorded(self, client, db, fake) -> None:  # noqa: ANN001
        response = await post(client, SUCCEEDED, None)
        assert response.status_code == 400
        assert await events(db) == [] and fake.calls == []

    @pytest.mark.parametrize("how", ["other secret", "changed body", "old timestamp", "garbage"])
    async def test_bad_signature_is_refused_and_nothing_recorded(self, client, db, fake, how) -> None:  # noqa: ANN001
        body, signature = {
            "other secret": (SUCCEEDED, sign(SUCCEEDED, "whsec_other")),
            "changed body": (SUCCEEDED.replace(b"succeeded", b"failed"), sign(SUCCEEDED)),
            "old timestamp": (SUCCEEDED, sign(SUCCEEDED, timestamp=int(time.time()) - 600)),
            "garbage": (SUCCEEDED, "v1=deadbeef"),
        }[how]
        response = await post(client, body, signature)
        assert response.status_code == 400
        assert await events(db) == [] and fake.calls == []

    @pytest.mark.parametrize("how", ["nested 100k deep", "lone surrogate", "NUL in the id"])
    async def test_a_signed_body_that_is_not_an_event_is_a_400(self, client, db, fake, how) -> None:  # noqa: ANN001
        body = {
            "nested 100k deep": b'{"id": "evt_1", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            "lone surrogate": b'{"id": "evt_\\ud800", "type": "charge.refunded"}',
            "NUL in the id": b'{"id": "evt_\\u0000", "type": "charge.refunded"}',
        }[how]
        response = await post(client, body, sign(body))
        assert response.status_code == 400
        assert response.json() == {"error": "invalid signature"}
        assert await events(db) == [] and fake.calls == []

    async def test_no_webhook_secret_configured_refuses(self, app, runtime, db, fake) -> None:  # noqa: ANN001
        runtime.settings = dataclasses.replace(runtime.settings, stripe_webhook_secret="")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://testserver") as c:
            assert (await post(c, SUCCEEDED, sign(SUCCEEDED))).status_code == 400
        assert await events(db) == []


class TestOnce:
    async def test_a_replay_is_acknowledged_and_ignored(self, client, db, fake) -> None:  # noqa: ANN001
        fake.respond(200, payment_intent())  # the re-read of the first delivery only
        first = await post(client, SUCCEEDED, sign(SUCCEEDED))
        assert first.status_code == 200 and first.json() == {"received": True}
        replay = await post(client, SUCCEEDED, sign(SUCCEEDED))
        assert replay.status_code == 200 and replay.json()["duplicate"] is True
        assert [c[1] for c in fake.calls] == ["/v1/payment_intents/pi_3QxUnitTest0001"]
        assert await events(db) == [("evt_1QUnitTest", "payment_intent.succeeded", True)]

    async def test_a_failure_answers_500_and_stripe_retry_acts_again(self, client, db, fake) -> None:  # noqa: ANN001
        fake.respond(500, api_error())
        failed = await post(client, SUCCEEDED, sign(SUCCEEDED))
        assert failed.status_code == 500
        # Kept unhandled and freed, so the retry acts again instead of being taken for a replay.
        assert await events(db) == [("evt_1QUnitTest", "payment_intent.succeeded", False)]
        fake.respond(200, payment_intent())
        retried = await post(client, SUCCEEDED, sign(SUCCEEDED))
        assert retried.status_code == 200
        assert await events(db) == [("evt_1QUnitTest", "payment_intent.succeeded", True)]

    async def test_unknown_types_are_acknowledged_and_logged(self, client, db, fake, caplog) -> None:  # noqa: ANN001
        body = event("invoice.finalized", {"id": "in_1"}, event_id="evt_unknown")
        with caplog.at_level(logging.INFO, logger="billgate.webhooks.stripe"):
            response = await post(client, body, sign(body))
        assert response.status_code == 200
        assert "does not act on it" in caplog.text
        assert await events(db) == [("evt_unknown", "invoice.finalized", True)] and fake.calls == []


class TestRereads:
    async def test_a_payment_intent_of_no_checkout_changes_nothing(self, client, db, fake) -> None:  # noqa: ANN001
        # A renewal's intent: renewals record their own outcome when they charge.
        fake.respond(200, payment_intent(metadata={"billgate_key": "billgate:invoice:x:1"}))
        assert (await post(client, SUCCEEDED, sign(SUCCEEDED))).status_code == 200
        async with db.read_session() as session:
            assert await session.scalar(select(func.count()).select_from(Transaction)) == 0

    async def test_setup_intent_succeeded_sets_the_default_card_unless_a_newer_one_is_there(
            self, client, db, fake) -> None:  # noqa: ANN001
        async with db.session() as session, session.begin():
            row = await customers.get_or_create(session, USER)
            row.stripe_customer_id = "cus_RUnitTest0001"

        def setup_intent(seti: str, pm: str, created: int) -> dict[str, Any]:
            return {"id": seti, "object": "setup_intent", "status": "succeeded", "created": created,
                    "customer": "cus_RUnitTest0001", "payment_method": pm, "client_secret": "s",
                    "metadata": {"billgate_setup": "USER:u1"}, "usage": "off_session"}

        def card(pm: str, last4: str) -> dict[str, Any]:
            return {"id": pm, "object": "payment_method", "customer": "cus_RUnitTest0001",
                    "card": {"brand": "visa", "last4": last4, "exp_month": 1, "exp_year": 2031}}

        newer = event("setup_intent.succeeded", {"id": "seti_new"}, event_id="evt_new")
        fake.respond(200, setup_intent("seti_new", "pm_new", 2000)).respond(200, card("pm_new", "1111"))
        fake.respond(200, {"id": "cus_RUnitTest0001", "object": "customer"})
        assert (await post(client, newer, sign(newer))).status_code == 200
        # An older intent's event arrives late: re-read, it is older than the card: no change.
        older = event("setup_intent.succeeded", {"id": "seti_old"}, event_id="evt_old")
        fake.respond(200, setup_intent("seti_old", "pm_old", 1000)).respond(200, card("pm_old", "2222"))
        fake.respond(200, {"id": "cus_RUnitTest0001", "object": "customer"})
        assert (await post(client, older, sign(older))).status_code == 200
        async with db.read_session() as session:
            stored = await session.scalar(select(Customer.default_payment_method))
        assert stored["id"] == "pm_new" and stored["last4"] == "1111"

    async def test_dispute_created_is_logged_with_its_transaction(self, client, db, fake, caplog) -> None:  # noqa: ANN001
        async with db.session() as session, session.begin():
            row = await customers.get_or_create(session, USER)
            session.add(Transaction(customer_pk=row.id, kind="purchase", amount=500, currency="USD",
                                    product={"displayName": "500 credits"}, test_mode=False,
                                    payment_reference="pi_1"))
        fake.respond(200, {"id": "dp_1", "object": "dispute", "amount": 500, "currency": "usd",
                           "charge": "ch_1", "payment_intent": "pi_1", "reason": "fraudulent",
                           "status": "needs_response"})
        body = event("charge.dispute.created", {"id": "dp_1"}, event_id="evt_dispute")
        with caplog.at_level(logging.WARNING, logger="billgate.billing.refunds"):
            assert (await post(client, body, sign(body))).status_code == 200
        assert "dispute dp_1 (fraudulent" in caplog.text and "transaction" in caplog.text
        assert [c[1] for c in fake.calls] == ["/v1/disputes/dp_1"]
