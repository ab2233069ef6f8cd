"""Driving the console in-process: an httpx client on the ASGI app that signs in with the
secret key as a browser would (the sign-in page's CSRF cookie and field), and reads the
CSRF token each page's forms carry."""

from __future__ import annotations

import re
from typing import Any

import httpx

SERVER_KEY = "sk_test_server_key"  # tests/conftest.py
CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')
PAGES = ("/admin", "/admin/catalog", "/admin/customers", "/admin/transactions",
         "/admin/invoices", "/admin/payouts", "/admin/promo-codes", "/admin/webhooks",
         "/admin/settings",
         "/admin/activity")


def csrf_of(html: str) -> str:
    """The page's CSRF token; every form on the page must carry the same one."""
    tokens = set(CSRF.findall(html))
    assert len(tokens) == 1 and "" not in tokens, f"CSRF tokens on the page: {tokens}"
    return tokens.pop()


async def sign_in(client: httpx.AsyncClient, key: str = SERVER_KEY, *,
                  next_path: str = "/admin") -> httpx.Response:
    page = await client.get("/admin/sign-in")
    assert page.status_code == 200, page.text
    return await client.post("/admin/sign-in", data={
        "csrf_token": csrf_of(page.text), "secret_key": key, "next": next_path})


async def post_form(client: httpx.AsyncClient, page_path: str, action: str,
                    data: dict[str, Any]) -> httpx.Response:
    """Submit a form of ``page_path`` as the browser would: with that page's CSRF token."""
    page = await client.get(page_path)
    assert page.status_code == 200, page.text
    return await client.post(action, data={"csrf_token": csrf_of(page.text), **data})
