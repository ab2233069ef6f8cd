"""What the sync and async clients share: credentials, the request they send and how an
answer is read."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from billgate_client._operations import Operation
from billgate_client._version import __version__
from billgate_client.errors import BillgateError
from billgate_client.models import CUSTOMER_TYPES, CustomerRef

T = TypeVar("T")
USER_AGENT = f"billgate-client-python/{__version__}"
HEADERS = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT}
# Ask get_token for a new token this long before the cached one expires.
REFRESH_BEFORE_EXPIRY_SECONDS = 5


class Credentials:
    """A secret key (backends), a fixed customer token, or ``get_token`` (asked again when
    the token is about to expire or was refused with HTTP 401)."""

    def __init__(
        self, secret_key: str | None, token: str | None, get_token: Callable[[], str] | None
    ) -> None:
        if sum(value is not None for value in (secret_key, token, get_token)) > 1:
            raise ValueError("pass one of secret_key (a backend), token or get_token (a customer)")
        self._fixed = secret_key or token
        self._get_token = get_token
        self._cached: tuple[str, float] | None = None

    @property
    def refreshable(self) -> bool:
        return self._get_token is not None

    def headers(self) -> dict[str, str]:
        credential = self._fixed or self._token()
        return {**HEADERS, **({"Authorization": f"Bearer {credential}"} if credential else {})}

    def invalidate(self) -> None:
        self._cached = None

    def _token(self) -> str | None:
        if self._get_token is None:
            return None
        if self._cached and self._cached[1] - time.time() > REFRESH_BEFORE_EXPIRY_SECONDS:
            return self._cached[0]
        token = self._get_token()
        self._cached = (token, _expiry(token))
        return token


def _expiry(token: str) -> float:
    """A JWT's ``exp`` (seconds); +inf when unreadable (the server decides)."""
    try:
        payload = token.split(".")[1]
        return float(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return float("inf")


def body(operation: Operation[Any]) -> dict[str, Any]:
    return {"query": operation.query, "variables": operation.variables}


def read(operation: Operation[T], status: int, text: str) -> T:
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and answer.get("errors"):
        raise BillgateError.from_graphql_errors(answer["errors"], status)
    if status != 200 or not isinstance(answer, dict) or answer.get("data") is None:
        raise BillgateError("HTTP_ERROR", f"billgate answered HTTP {status}: {text[:200]}", status=status)
    return operation.read(answer["data"])


def network_error(url: str, exc: Exception) -> BillgateError:
    return BillgateError("NETWORK_ERROR", f"billgate at {url} could not be reached: {exc!r}")


def customer_ref(customer_type: str, customer_id: str) -> CustomerRef:
    if customer_type not in CUSTOMER_TYPES:
        raise ValueError(f"customer type must be one of {', '.join(CUSTOMER_TYPES)}, got {customer_type!r}")
    if not customer_id:
        raise ValueError("customer_id must not be empty")
    return CustomerRef(customer_type, customer_id)  # type: ignore[arg-type]  # checked above
