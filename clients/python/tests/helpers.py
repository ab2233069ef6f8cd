from __future__ import annotations

import httpx


def complete_checkout(url: str) -> str:
    """Completes a hosted test-mode checkout as the buyer's browser would (the 4242 card)."""
    response = httpx.post(f"{url}/complete", data={"test_card": "4242424242424242"})
    assert response.status_code == 303, response.text
    return response.headers["location"]
