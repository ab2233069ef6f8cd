"""What one billgate process holds while it runs: settings, database, clock, event bus,
payment rails. Built once by the app's lifespan (or by tests) and handed to every request
context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from billgate.billing import payment_settings, test_clock
from billgate.billing.context import Billing, Scope
from billgate.clock import Clock, TestClock
from billgate.db.engine import Database
from billgate.errors import PaymentFailed
from billgate.payments.rails import PaymentRails
from billgate.payments.test_rails import TestRails
from billgate.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    db: Database
    clock: Clock
    secret_keys: tuple[str, ...]
    bus: Any = None  # billgate.events.EventBus once started; None: events are not published
    test_rails: PaymentRails = field(default_factory=TestRails)
    live_rails: PaymentRails | None = None  # StripeRails when Stripe is configured
    extras: dict[str, Any] = field(default_factory=dict)

    def scope(self) -> Scope:
        """What a unit of work that moves no money runs with (no settings read)."""
        return Scope(db=self.db, clock=self.clock, bus=self.bus)

    async def payment_settings(self) -> payment_settings.PaymentSettings:
        async with self.db.read_session() as session:
            return await payment_settings.load(session)

    async def billing(self) -> Billing:
        """The context billing work runs with now (current settings and rails)."""
        settings = await self.payment_settings()
        rails, test_mode = (self.test_rails, True) if settings.test_mode else await self.rails()
        return Billing(db=self.db, rails=rails, test_mode=test_mode, settings=settings,
                       base_url=self.settings.base_url, bus=self.bus, clock=self.clock,
                       grant_credits_during_grace=self.settings.grant_credits_during_grace)

    async def sync_test_clock(self) -> None:
        """Pick up the stored test-clock offset (another process may have advanced it)."""
        if isinstance(self.clock, TestClock):
            async with self.db.read_session() as session:
                offset = await test_clock.load_offset(session)
            self.clock.offset = max(self.clock.offset, offset)

    async def aclose(self) -> None:
        """Close the payment processor's HTTP connections (the database is closed apart)."""
        close = getattr(self.live_rails, "aclose", None)
        if close is not None:
            await close()

    async def rails(self) -> tuple[PaymentRails, bool]:
        """The rails to charge with now, and whether that is test mode. Live mode without
        Stripe configured refuses to charge rather than give products away."""
        test_mode = (await self.payment_settings()).test_mode
        if test_mode:
            return self.test_rails, True
        if self.live_rails is None:
            raise PaymentFailed("live mode is on but no payment processor is configured "
                                "(set BILLGATE_STRIPE_SECRET_KEY)")
        return self.live_rails, False


def method_types_of(db: Database) -> Any:
    """What Stripe offers on checkout: the stored payment settings' types, read per intent."""
    async def method_types() -> list[str]:
        return await payment_settings.payment_method_types(db)

    return method_types


def stripe_rails_for(settings: Settings, db: Database) -> PaymentRails | None:
    """``StripeRails`` when ``BILLGATE_STRIPE_SECRET_KEY`` is set: live mode charges through
    it. ``BILLGATE_STRIPE_API_BASE`` points it at a Stripe-compatible test server
    (localstripe); the parameters localstripe refuses are then left out."""
    if not settings.stripe_secret_key:
        return None
    from billgate.billing.payment_methods import customer_resolver
    from billgate.payments.stripe_rails import LOCALSTRIPE_OMITS, StripeRails

    return StripeRails(settings.stripe_secret_key, api_base=settings.stripe_api_base or None,
                       resolve_customer=customer_resolver(db), method_types=method_types_of(db),
                       omit_params=LOCALSTRIPE_OMITS if settings.stripe_api_base else frozenset())
