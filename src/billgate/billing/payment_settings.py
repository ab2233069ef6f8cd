"""Payment settings that change at run time (``updatePaymentSettings``).

Stored in ``app_settings`` under one key. An environment variable that is set (today:
``BILLGATE_TEST_MODE``) is written over the stored value at start-up, so it wins.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billgate.billing.errors import InvalidInput
from billgate.db.engine import Database
from billgate.db.models import AppSetting
from billgate.db.upsert import insert_ignore

KEY = "payment_settings"
MAX_GRACE_DAYS = 365


@dataclass(frozen=True)
class PaymentSettings:
    test_mode: bool = True
    block_new_purchases: bool = False
    grace_period_days: int = 7
    dunning_retry_days: tuple[int, ...] = (3, 5, 7)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> PaymentSettings:
        if not data:
            return cls()
        return cls(
            test_mode=bool(data.get("test_mode", True)),
            block_new_purchases=bool(data.get("block_new_purchases", False)),
            grace_period_days=int(data.get("grace_period_days", 7)),
            dunning_retry_days=tuple(data.get("dunning_retry_days", (3, 5, 7))),
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["dunning_retry_days"] = list(self.dunning_retry_days)
        return data


def validate(settings: PaymentSettings) -> PaymentSettings:
    if not 0 <= settings.grace_period_days <= MAX_GRACE_DAYS:
        raise InvalidInput(f"gracePeriodDays must be from 0 to {MAX_GRACE_DAYS}",
                           field=["gracePeriodDays"])
    days = settings.dunning_retry_days
    if len(days) > 10 or any(d < 1 or d > MAX_GRACE_DAYS for d in days):
        raise InvalidInput("dunningRetryDays takes up to 10 days, each from 1 to 365",
                           field=["dunningRetryDays"])
    if list(days) != sorted(set(days)):
        raise InvalidInput("dunningRetryDays must be strictly increasing (days after the failure)",
                           field=["dunningRetryDays"])
    return settings


async def load(session: AsyncSession) -> PaymentSettings:
    row = await session.scalar(select(AppSetting).where(AppSetting.key == KEY))
    return PaymentSettings.from_json(row.value if row else None)


async def update(session: AsyncSession, **changes: Any) -> PaymentSettings:
    """Apply the given changes (``None`` values are ignored) and store the result.

    Race-safe: the row is created if missing with an insert that ignores a conflict, then
    locked, so replicas starting together on a new database (each writing
    ``BILLGATE_TEST_MODE``) and concurrent ``updatePaymentSettings`` calls neither fail on
    the key nor lose each other's changes.
    """
    table: Any = AppSetting.__table__
    await insert_ignore(session, table, {"key": KEY, "value": PaymentSettings().to_json()}, ["key"])
    row = await session.get(AppSetting, KEY, with_for_update=True, populate_existing=True)
    assert row is not None
    current = PaymentSettings.from_json(row.value)
    new = validate(replace(current, **{k: v for k, v in changes.items() if v is not None}))
    row.value = new.to_json()
    await session.flush()
    return new


async def save(db: Database, **changes: Any) -> PaymentSettings:
    """``update`` in its own transaction (``updatePaymentSettings``)."""
    async with db.session() as session, session.begin():
        return await update(session, **changes)
