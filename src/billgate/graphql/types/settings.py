from __future__ import annotations

import strawberry

from billgate.billing.payment_settings import Address as DomainAddress
from billgate.billing.payment_settings import Party as DomainParty
from billgate.billing.payment_settings import PaymentSettings as Domain


@strawberry.type
class Address:
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    postal_code: str | None = None
    state: str | None = None
    country: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2.")

    @classmethod
    def of(cls, address: DomainAddress | None) -> Address | None:
        if address is None:
            return None
        return cls(line1=address.line1, line2=address.line2, city=address.city,
                   postal_code=address.postal_code, state=address.state, country=address.country)


@strawberry.type
class Party:
    name: str | None = None
    email: str | None = None
    address: Address | None = None
    tax_id: str | None = None

    @classmethod
    def of(cls, party: DomainParty) -> Party:
        return cls(name=party.name, email=party.email, address=Address.of(party.address),
                   tax_id=party.tax_id)


@strawberry.type
class TaxRate:
    country: str = strawberry.field(description='ISO 3166-1 alpha-2, or "*" for any country.')
    name: str
    percent: str = strawberry.field(description='A decimal string, e.g. "20".')


@strawberry.type
class PaymentSettings:
    test_mode: bool
    block_new_purchases: bool
    grace_period_days: int
    dunning_retry_days: list[int]
    payment_method_types: list[str] = strawberry.field(
        description="Stripe payment method types offered on checkout and when saving a card "
                    "(card always among them). A billgate addition.")
    seller: Party = strawberry.field(description="Who invoices are from.")
    invoice_number_prefix: str = strawberry.field(description="Invoice numbers read "
                                                  "{prefix}{year}-{6 digits}.")
    tax_rates: list[TaxRate] = strawberry.field(description="Exclusive rates by the buyer's "
                                                "country (else \"*\", else none).")

    @classmethod
    def of(cls, settings: Domain) -> PaymentSettings:
        return cls(test_mode=settings.test_mode, block_new_purchases=settings.block_new_purchases,
                   grace_period_days=settings.grace_period_days,
                   dunning_retry_days=list(settings.dunning_retry_days),
                   payment_method_types=list(settings.payment_method_types),
                   seller=Party.of(settings.seller),
                   invoice_number_prefix=settings.invoice_number_prefix,
                   tax_rates=[TaxRate(country=r.country, name=r.name, percent=r.percent)
                              for r in settings.tax_rates])
