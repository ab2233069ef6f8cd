"""The Webhooks page: add an endpoint (its signing secret shown once, on that page), send a
test event, rotate the secret, disable and enable, redeliver, delete; each one operator
action, each through the same service functions as the webhook mutations."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import httpx
from console_testing import post_form

SECRET = re.compile(r'id="signing-secret">(whsec_[^<]+)<')
URL = "http://127.0.0.1:9/billing-events"


def endpoint_id(html: str) -> str:
    match = re.search(r'name="endpoint_id" value="(\d+)"', html)
    assert match, "no endpoint on the page"
    return match.group(1)


async def test_an_endpoint_from_creation_to_deletion(operator: httpx.AsyncClient, runtime: Any,
                                                     api: Any) -> None:
    runtime.settings = dataclasses.replace(runtime.settings, webhook_http_hosts=("127.0.0.1",),
                                           webhook_allow_private=True)
    refused = await post_form(operator, "/admin/webhooks", "/admin/webhooks/create",
                              {"url": "ftp://nowhere", "description": "Backend"})
    assert refused.status_code == 400 and 'id="endpoint-url-error"' in refused.text
    assert 'value="Backend"' in refused.text

    created = await post_form(operator, "/admin/webhooks", "/admin/webhooks/create",
                              {"url": URL, "description": "Backend", "event_invoice.paid": "on"})
    assert created.status_code == 200
    first = SECRET.search(created.text).group(1)  # type: ignore[union-attr]
    page = await operator.get("/admin/webhooks")
    assert first not in page.text and URL in page.text and "invoice.paid" in page.text
    endpoint = endpoint_id(page.text)

    tested = await post_form(operator, "/admin/webhooks", "/admin/webhooks/endpoint",
                             {"endpoint_id": endpoint, "op": "test"})
    assert tested.status_code == 303
    page = await operator.get("/admin/webhooks")
    assert "Test event queued" in page.text and "webhook.test" in page.text
    delivery = re.search(r'name="delivery_id" value="(\d+)"', page.text).group(1)  # type: ignore[union-attr]

    rotated = await post_form(operator, "/admin/webhooks", "/admin/webhooks/endpoint",
                              {"endpoint_id": endpoint, "op": "rotate"})
    second = SECRET.search(rotated.text).group(1)  # type: ignore[union-attr]
    assert second != first

    for op, shown in (("disable", "Disabled"), ("enable", "Enabled")):
        done = await post_form(operator, "/admin/webhooks", "/admin/webhooks/endpoint",
                               {"endpoint_id": endpoint, "op": op})
        assert done.status_code == 303
        assert shown in (await operator.get("/admin/webhooks")).text
    again = await post_form(operator, "/admin/webhooks", "/admin/webhooks/redeliver",
                            {"delivery_id": delivery})
    assert again.status_code == 303
    assert "will be sent again now" in (await operator.get("/admin/webhooks")).text
    gone = await post_form(operator, "/admin/webhooks", "/admin/webhooks/endpoint",
                           {"endpoint_id": endpoint, "op": "delete"})
    assert gone.status_code == 303 and URL not in (await operator.get("/admin/webhooks")).text

    actions = await api.data("{ operatorActions { edges { node { action outcome via } } } }")
    assert [e["node"]["action"] for e in actions["operatorActions"]["edges"]][:8] == [
        "deleteWebhookEndpoint", "redeliverWebhook", "updateWebhookEndpoint",
        "updateWebhookEndpoint", "rotateWebhookSigningSecret", "sendTestWebhook",
        "createWebhookEndpoint", "createWebhookEndpoint"]
