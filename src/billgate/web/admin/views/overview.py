"""Overview (``/admin``): per currency, money of the last 30 days (paid, refunded, net and
a daily bar chart drawn here as SVG), MRR and subscriptions now, new and canceled this
month; customers; webhook endpoints that are failing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from starlette.responses import Response

from billgate.billing import reports
from billgate.web.admin.console import Ctx
from billgate.web.admin.templating import money

DAYS = 30
MAX_CURRENCIES = 4
# The drawing is stretched to the card (CSS gives it its height); its labels are HTML
# beside it, so they keep their size on a phone.
CHART_WIDTH, CHART_HEIGHT, CHART_TOP, CHART_BOTTOM = 1000, 200, 4, 0


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    negative: bool
    title: str


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    baseline: float
    labels: list[str]  # first, middle and last day, under the bars
    peak: str
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT


@dataclass(frozen=True)
class CurrencySection:
    report: reports.Revenue
    month: dict[str, int]
    chart: Chart


def chart(days: list[reports.RevenueDay], currency: str) -> Chart:
    """Bars of each day's net, scaled to the largest; negatives below the axis."""
    top = max((d.net for d in days), default=0)
    bottom = min((d.net for d in days), default=0)
    span = max(top - bottom, 1)
    plot = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    baseline = CHART_TOP + plot * top / span
    slot = CHART_WIDTH / max(len(days), 1)
    bars = []
    for n, d in enumerate(days):
        height = plot * abs(d.net) / span
        bars.append(Bar(x=round(n * slot + slot * 0.15, 2),
                        y=round(baseline - height if d.net >= 0 else baseline, 2),
                        width=round(slot * 0.7, 2), height=round(max(height, 0.0), 2),
                        negative=d.net < 0,
                        title=f"{d.day:%d %b}: {money(d.net, currency)}"))
    picks = sorted({0, len(days) // 2, len(days) - 1}) if days else []
    labels = [f"{days[n].day.day} {days[n].day:%b}" for n in picks]
    return Chart(bars=bars, baseline=round(baseline, 2), labels=labels,
                 peak=money(top, currency) if top > 0 else "")


async def page(ctx: Ctx) -> Response:
    runtime = ctx.runtime
    settings = await runtime.payment_settings()
    now = runtime.clock.now()
    start = (now - timedelta(days=DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    sections = []
    async with runtime.db.read_session() as session:
        currencies = (await reports.currencies_in_use(session, test_mode=settings.test_mode,
                                                      since=start))[:MAX_CURRENCIES] or ["USD"]
        for currency in currencies:
            report = await reports.revenue(session, currency, start=start, end=now,
                                           test_mode=settings.test_mode)
            month = await reports.subscription_counts(session, currency, month_start, now)
            sections.append(CurrencySection(report, month, chart(report.days, currency)))
        customers = await reports.count_customers(session)
        failing = await reports.failing_endpoints(session)
    return ctx.render("admin/overview.html", test_mode=settings.test_mode, sections=sections,
                      customers=customers, customer_total=sum(customers.values()),
                      failing=failing, month=_month_name(now), days=DAYS)


def _month_name(now: datetime) -> str:
    return f"{now:%B}"
