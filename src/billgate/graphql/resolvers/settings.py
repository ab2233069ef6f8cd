from __future__ import annotations

from billgate.billing import payment_settings as settings_service
from billgate.errors import BillgateError
from billgate.graphql.context import Info
from billgate.graphql.errors import raise_query_error
from billgate.graphql.types.settings import PaymentSettings


async def payment_settings(info: Info) -> PaymentSettings:
    try:
        info.context.principal.require_server("paymentSettings")
    except BillgateError as exc:
        raise_query_error(exc)
    async with info.context.runtime.db.read_session() as session:
        return PaymentSettings.of(await settings_service.load(session))
