"""Shared pieces of billgate's hosted pages: Jinja2 templates, money and interval wording,
and the security headers every page is sent with.

Pages carry no JavaScript. Their one stylesheet (``templates/page.css``) is inlined and
allowed by its SHA-256 hash in the Content-Security-Policy, so nothing else can run or style.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from jinja2 import Environment, PackageLoader
from starlette.responses import HTMLResponse, RedirectResponse, Response

from billgate.billing import return_urls
from billgate.money import from_minor

templates = Environment(loader=PackageLoader("billgate.web", "templates"), autoescape=True,
                        trim_blocks=True, lstrip_blocks=True)
PAGE_CSS = templates.loader.get_source(templates, "page.css")[0]  # type: ignore[union-attr]


def style_hash(css: str) -> str:
    """The CSP source that allows exactly this inline stylesheet."""
    return f"'sha256-{base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()}'"


_STYLE = style_hash(PAGE_CSS)

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "AUD": "A$", "CAD": "CA$"}
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?")


def money(minor: int, currency: str) -> str:
    """``1900, "USD"`` -> ``$19.00``; ``290000, "JPY"`` -> ``¥290,000`` (JPY has no decimals)."""
    text = from_minor(minor, currency)
    sign = "-" if text.startswith("-") else ""
    whole, _, fraction = text.lstrip("-").partition(".")
    symbol = SYMBOLS.get(currency, f"{currency} ")
    return f"{sign}{symbol}{int(whole):,}" + (f".{fraction}" if fraction else "")


def count(n: int, noun: str) -> str:
    """``1 seat``, ``5 seats``, ``1,200 seats``."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def period(interval: Mapping[str, Any]) -> str:
    """``{"unit": "MONTH", "count": 1}`` -> ``month``; count 3 -> ``3 months``."""
    unit, count = str(interval["unit"]).lower(), int(interval.get("count", 1))
    return unit if count == 1 else f"{count} {unit}s"


def trial_length(interval: Mapping[str, Any]) -> str:
    """``{"unit": "DAY", "count": 14}`` -> ``14-day``."""
    return f"{int(interval.get('count', 1))}-{str(interval['unit']).lower()}"


def origin(url: str) -> str | None:
    """The ``scheme://host[:port]`` of a URL, or None when it is not safe to put in a header."""
    parts = urlsplit(url)
    candidate = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    return candidate if _ORIGIN.fullmatch(candidate) else None


def app_link(url: str | None, allowed: Sequence[str]) -> str | None:
    """A stored link back to the app, for a page to render or redirect to: checked again
    (``billing/return_urls.py``) so a link stored before the rule, or before the allowed
    list changed, is never followed; None then."""
    return return_urls.link(url, allowed)


def completed_url(return_url: str, code: str) -> str:
    """Where the browser goes after a completed checkout: ``return_url`` with
    ``checkout_status=complete`` and ``checkout_id=<code>`` added to its query string (any
    query and fragment it had are kept), so the app's page knows what just happened. A
    checkout made without a return URL (REST ``create-purchase-url`` may leave it out) ends
    on billgate's own "Payment complete" page."""
    if not return_url:
        return f"/checkout/{code}/done"
    parts = urlsplit(return_url)
    query = [*parse_qsl(parts.query, keep_blank_values=True),
             ("checkout_status", "complete"), ("checkout_id", code)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def back_to_app(return_url: str | None, code: str, allowed: Sequence[str]) -> Response:
    """After a completed checkout: 303 to ``completed_url``; to billgate's own "Payment
    complete" page when there is no return URL or the stored one is no longer allowed
    (``app_link``)."""
    url = app_link(return_url, allowed) or ""
    return RedirectResponse(completed_url(url, code), status_code=303, headers=security_headers())


def security_headers(form_targets: Iterable[str | None] = (), *, style: str = _STYLE,
                     script_src: str | None = None) -> dict[str, str]:
    """Headers for every hosted page (and the console's). ``form_targets``: origins a form
    on the page may end up at; Chromium applies ``form-action`` to the redirect that follows
    a form POST too. ``style``: the inline stylesheet's hash source (``style_hash``);
    ``script_src``: where scripts may come from (default: ``default-src``, this server)."""
    form_action = " ".join(["'self'", *sorted({t for t in form_targets if t})])
    scripts = f"script-src {script_src}; " if script_src else ""
    policy = (f"default-src 'self'; {scripts}style-src {style}; img-src 'self' data:; "
              f"base-uri 'none'; frame-ancestors 'none'; form-action {form_action}")
    return {
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }


def render(template: str, *, status: int = 200, form_targets: Iterable[str | None] = (),
           **context: Any) -> HTMLResponse:
    html = templates.get_template(template).render(page_css=PAGE_CSS, **context)
    return HTMLResponse(html, status_code=status, headers=security_headers(form_targets))
