"""``mint_customer_token``: what billgate accepts, and refusals of what it would not."""

from __future__ import annotations

import jwt
import pytest

from billgate_client import mint_customer_token

SECRET = "a-customer-token-secret-of-32-bytes"


def test_claims_are_sub_teams_iat_exp() -> None:
    token = mint_customer_token(SECRET, "USER", "u-1", ttl_seconds=60, teams={"acme": "admin"})
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["teams"], claims["exp"] - claims["iat"]) == ("u-1", {"acme": "admin"}, 60)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("", "USER", "u"), {}, "secret"),
        ((SECRET, "TEAM", "acme"), {}, "names a user"),
        ((SECRET, "USER", ""), {}, "customer_id"),
        ((SECRET, "USER", "u"), {"ttl_seconds": 0}, "ttl_seconds"),
        ((SECRET, "USER", "u"), {"ttl_seconds": 1.5}, "ttl_seconds"),
        ((SECRET, "USER", "u"), {"teams": {"acme": "owner"}}, "admin"),
    ],
)
def test_refusals(args: tuple[str, str, str], kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mint_customer_token(*args, **kwargs)  # type: ignore[arg-type]
