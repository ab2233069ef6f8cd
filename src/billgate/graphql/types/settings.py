from __future__ import annotations

import strawberry

from billgate.billing.payment_settings import PaymentSettings as Domain


@strawberry.type
class PaymentSettings:
    test_mode: bool
    block_new_purchases: bool
    grace_period_days: int
    dunning_retry_days: list[int]

    @classmethod
    def of(cls, settings: Domain) -> PaymentSettings:
        return cls(test_mode=settings.test_mode, block_new_purchases=settings.block_new_purchases,
                   grace_period_days=settings.grace_period_days,
                   dunning_retry_days=list(settings.dunning_retry_days))
