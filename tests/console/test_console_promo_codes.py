"""The console's Promo codes page: the list with redemptions, creating a code (a refused
value shown next to its field, nothing created), disabling and enabling it; in-process
here, in a real Chromium in ``test_promo_codes_browser.py``."""

from __future__ import annotations

import re
from typing import Any

import httpx
from console_testing import post_form

PAGE, CREATE, TOGGLE = "/admin/promo-codes", "/admin/promo-codes/create", "/admin/promo-codes/toggle"


async def test_create_list_and_disable(operator: httpx.AsyncClient, api: Any) -> None:
    empty = await operator.get(PAGE)
    assert empty.status_code == 200 and "No promo codes yet." in empty.text

    refused = await post_form(operator, PAGE, CREATE, {
        "code": "both", "percent_off": "10", "amount_off": "USD 5.00", "duration": "ONCE"})
    assert refused.status_code == 400
    assert 'id="promo-percent_off-error"' in refused.text
    assert "give percentOff or amountOff, not both" in refused.text
    assert 'value="USD 5.00"' in refused.text, "what was typed stays"

    made = await post_form(operator, PAGE, CREATE, {
        "code": "spring", "display_name": "Spring sale", "amount_off": "USD 5.00, JPY 500",
        "duration": "REPEATING", "duration_in_months": "3", "max_redemptions": "100",
        "product_ids": "pro, credit-pack", "first_purchase_only": "on"})
    assert made.status_code == 303
    page = (await operator.get(PAGE)).text
    assert "Created promo code SPRING." in page
    row = re.search(r"<tr>\s*<td data-label=\"Code\"><span class=\"mono\">SPRING.*?</tr>", page,
                    re.S)
    assert row is not None
    text = re.sub(r"<[^>]+>|\s+", " ", row.group(0))
    for shown in ("Spring sale", "USD 5.00, JPY 500 off", "first purchase only", "3 months",
                  "0 of 100", "pro, credit-pack", "Enabled"):
        assert shown in text, (shown, text)

    pk = re.search(r'name="promo_code_id" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    off = await post_form(operator, PAGE, TOGGLE, {"promo_code_id": pk, "op": "disable"})
    assert off.status_code == 303
    page = (await operator.get(PAGE)).text
    assert "SPRING disabled." in page and "Enable SPRING" in page
    listed = await api.data("{ promoCodes(first: 5) { edges { node { code enabled } } } }")
    assert listed["promoCodes"]["edges"] == [{"node": {"code": "SPRING", "enabled": False}}]
