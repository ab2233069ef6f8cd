"""The REST edge: the seed's Stack Auth payments endpoints under ``/api/v1/payments/``, for
backends that do not speak GraphQL (API.md, "The seed's REST endpoints").

Like graphql/ and web/ it is an edge: each endpoint authenticates (``billgate/auth.py``, the
same keys and customer tokens as GraphQL), checks its input with pydantic models
(``models.py``), calls the billing function the matching GraphQL operation calls, and
answers JSON; errors carry GraphQL's error codes (``errors.py``). Who may call what:

| endpoint | secret key | own user | team member | team admin | other, CUSTOM |
| --- | --- | --- | --- | --- | --- |
| ``GET items/``, ``GET products/``, ``GET invoices/`` | yes | yes | yes | yes | 403 |
| ``create-purchase-url``, ``products/.../switch``, ``GET billing/`` | yes | yes | 403 | yes | 403 |
| ``POST items/.../update-quantity`` | yes | 403 | 403 | 403 | 403 |
"""
