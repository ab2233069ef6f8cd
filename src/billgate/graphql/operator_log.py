"""Every GraphQL write made with a secret key is one ``OperatorAction`` (API.md): one
field extension on every root mutation field records, right after the mutation ran, its
name, the key's fingerprint, what it acted on and how it ended ("ok", the first user
error's code, or the top-level error's code). Mutations by customer tokens are not
operator actions and are not recorded.

Applied to the ``Mutation`` type once, in ``build_schema``: a mutation added later is
recorded without anyone remembering to.
"""

from __future__ import annotations

from typing import Any

from strawberry import UNSET
from strawberry.extensions.field_extension import AsyncExtensionResolver, FieldExtension

from billgate.billing import operator_actions
from billgate.errors import BillgateError
from billgate.graphql.context import Info

# Input fields that name what a mutation acts on, in order of preference.
_TARGETS = (("customer", None), ("transaction_id", None), ("subscription_id", None),
            ("delivery_id", None), ("id", None), ("product_id", "product"),
            ("product_line_id", "productLine"), ("item_id", "item"))


def target_of(input: Any) -> str | None:
    """``USER:u-1`` for a customer's change, else the id it names (a node id as given, or
    ``product:pro`` for a catalog entry)."""
    if input is None:
        return None
    for name, label in _TARGETS:
        value = getattr(input, name, None)
        if value is None or value is UNSET:
            continue
        if name == "customer":
            return f"{value.type.value}:{value.customer_id}"
        return f"{label}:{value}" if label else str(value)
    return None


def detail_of(input: Any) -> str | None:
    """A short summary where the input has one worth keeping (balance changes)."""
    amount, item = getattr(input, "amount", None), getattr(input, "item_id", None)
    if isinstance(amount, int) and isinstance(item, str):
        return f"{amount} {item}"
    return None


def outcome_of(payload: Any) -> str:
    errors = getattr(payload, "user_errors", None) or []
    if errors:
        code = errors[0].code
        return str(getattr(code, "value", code))
    return operator_actions.OK


class RecordOperatorAction(FieldExtension):
    async def resolve_async(self, next_: AsyncExtensionResolver, source: Any, info: Info,
                            **kwargs: Any) -> Any:
        principal = info.context.principal
        if not principal.is_server:
            return await next_(source, info, **kwargs)
        outcome = "error"
        try:
            payload = await next_(source, info, **kwargs)
            outcome = outcome_of(payload)
            return payload
        except BillgateError as exc:
            outcome = exc.code
            raise
        finally:
            input = kwargs.get("input")
            await operator_actions.record(info.context.runtime.db, operator_actions.ActionRecord(
                key_fingerprint=principal.key_fingerprint or "…", action=info.field_name,
                target=target_of(input), outcome=outcome, via=operator_actions.GRAPHQL,
                at=info.context.runtime.clock.now(), detail=detail_of(input)))


def record_mutations(mutation_type: type) -> None:
    """Add ``RecordOperatorAction`` to every field of ``mutation_type`` (once)."""
    for field in mutation_type.__strawberry_definition__.fields:  # type: ignore[attr-defined]
        if not any(isinstance(e, RecordOperatorAction) for e in field.extensions):
            field.extensions.append(RecordOperatorAction())
