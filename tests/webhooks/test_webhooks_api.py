"""The webhook endpoints API (secret key only), through the ASGI app."""

from __future__ import annotations

from helpers import deliver
from receiver import Receiver

from billgate.clock import TestClock
from billgate.db.engine import Database

FIELDS = "id url eventTypes enabled description createdAt disabledReason"
CREATE = f"""mutation($input: CreateWebhookEndpointInput!) {{ createWebhookEndpoint(input: $input) {{
  endpoint {{ {FIELDS} }} signingSecret userErrors {{ code message field }} }} }}"""
UPDATE = f"""mutation($input: UpdateWebhookEndpointInput!) {{ updateWebhookEndpoint(input: $input) {{
  endpoint {{ {FIELDS} }} userErrors {{ code message field }} }} }}"""
ROTATE = """mutation($id: ID!) { rotateWebhookSigningSecret(input: {id: $id}) {
  endpoint { id } signingSecret userErrors { code } } }"""
DELETE = """mutation($id: ID!) { deleteWebhookEndpoint(input: {id: $id}) {
  deletedId userErrors { code } } }"""
TEST = """mutation($id: ID!) { sendTestWebhook(input: {id: $id}) {
  delivery { id eventId eventType status attempts } userErrors { code } } }"""
REDELIVER = """mutation($id: ID!) { redeliverWebhook(input: {deliveryId: $id}) {
  delivery { id status } userErrors { code } } }"""
LIST = """{ webhookEndpoints(first: 10) { edges { node { id url
  deliveries(first: 10) { edges { node { id eventId eventType status attempts lastAttemptAt
    nextAttemptAt responseStatus lastError } } } } } } }"""


async def test_customers_may_not_manage_endpoints(api) -> None:  # noqa: ANN001
    body = await api.as_user("u1")(CREATE, {"input": {"url": "https://example.com/hook"}})
    assert body["data"]["createWebhookEndpoint"]["userErrors"][0]["code"] == "FORBIDDEN"
    body = await api.as_user("u1")(LIST)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_bad_input_is_a_user_error(api) -> None:  # noqa: ANN001
    for url, types in [("https://example.com/hook", ["invoice.paid", "no.such_type"]),
                       ("http://example.com/hook", None),
                       ("not a url", None)]:
        data = await api.data(CREATE, {"input": {"url": url, "eventTypes": types}})
        [error] = data["createWebhookEndpoint"]["userErrors"]
        assert error["code"] == "INVALID_INPUT", error
    data = await api.data(UPDATE, {"input": {"id": "V2ViaG9va0VuZHBvaW50Ojk5OQ", "enabled": True}})
    assert data["updateWebhookEndpoint"]["userErrors"][0]["code"] == "WEBHOOK_ENDPOINT_NOT_FOUND"


async def test_manage_an_endpoint_and_watch_its_deliveries(
        api, runtime, db: Database, receiver: Receiver) -> None:  # noqa: ANN001
    data = await api.data(CREATE, {"input": {"url": receiver.url("/hook"),
                                             "eventTypes": ["invoice.paid"],
                                             "description": "billing backend"}})
    created = data["createWebhookEndpoint"]
    endpoint, secret = created["endpoint"], created["signingSecret"]
    assert secret.startswith("whsec_")
    assert endpoint["eventTypes"] == ["invoice.paid"] and endpoint["enabled"] is True

    listed = (await api.data(LIST))["webhookEndpoints"]["edges"]
    assert [e["node"]["id"] for e in listed] == [endpoint["id"]]
    assert "signingSecret" not in str(listed)

    rotated = (await api.data(ROTATE, {"id": endpoint["id"]}))["rotateWebhookSigningSecret"]
    assert rotated["signingSecret"].startswith("whsec_") and rotated["signingSecret"] != secret
    receiver.secrets["/hook"] = [rotated["signingSecret"]]

    sent = (await api.data(TEST, {"id": endpoint["id"]}))["sendTestWebhook"]["delivery"]
    assert (sent["eventType"], sent["status"], sent["attempts"]) == ("webhook.test", "PENDING", 0)
    clock: TestClock = runtime.clock
    await deliver(db, clock.now())
    [got] = receiver.at("/hook")
    assert got.verified_with and got.headers["webhook-id"] == sent["eventId"]

    [edge] = (await api.data(LIST))["webhookEndpoints"]["edges"][0]["node"]["deliveries"]["edges"]
    assert edge["node"]["status"] == "DELIVERED" and edge["node"]["responseStatus"] == 200
    assert edge["node"]["nextAttemptAt"] is None and edge["node"]["lastAttemptAt"]

    again = (await api.data(REDELIVER, {"id": edge["node"]["id"]}))["redeliverWebhook"]["delivery"]
    assert again["status"] == "PENDING"
    await deliver(db, clock.now())
    assert [r.headers["webhook-id"] for r in receiver.at("/hook")] == [sent["eventId"]] * 2

    off = (await api.data(UPDATE, {"input": {"id": endpoint["id"], "enabled": False,
                                             "description": None}}))["updateWebhookEndpoint"]
    assert off["endpoint"]["enabled"] is False and off["endpoint"]["disabledReason"]
    assert off["endpoint"]["description"] is None
    assert off["endpoint"]["eventTypes"] == ["invoice.paid"]  # not given: unchanged

    deleted = (await api.data(DELETE, {"id": endpoint["id"]}))["deleteWebhookEndpoint"]
    assert deleted["deletedId"] == endpoint["id"]
    assert (await api.data(LIST))["webhookEndpoints"]["edges"] == []


async def test_webhook_nodes_are_for_server_callers_only(api, receiver: Receiver) -> None:  # noqa: ANN001
    data = await api.data(CREATE, {"input": {"url": receiver.url("/hook")}})
    endpoint_id = data["createWebhookEndpoint"]["endpoint"]["id"]
    query = "query($id: ID!) { node(id: $id) { id ... on WebhookEndpoint { url } } }"
    assert (await api.data(query, {"id": endpoint_id}))["node"]["url"] == receiver.url("/hook")
    assert (await api.as_user("u1").data(query, {"id": endpoint_id}))["node"] is None
    assert (await api.as_(None)(query, {"id": endpoint_id}))["data"]["node"] is None
