"""The portal's templates, its stylesheet (inline, allowed by hash) and its headers: the
hosted pages' strict policy (``pages.security_headers``), scripts only from this server
(``live.js``) and, on the live-mode card page, Stripe.js as the hosted checkout has it."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader

from billgate.web import checkout_stripe, pages

env = Environment(loader=PackageLoader("billgate.web.portal", "templates"), autoescape=True,
                  trim_blocks=True, lstrip_blocks=True)
CSS = env.loader.get_source(env, "portal/portal.css")[0]  # type: ignore[union-attr]
STYLE = pages.style_hash(CSS)
env.globals.update(page_css=CSS)


def render(template: str, **context: Any) -> str:
    return env.get_template(template).render(**context)


def headers() -> dict[str, str]:
    return pages.security_headers(style=STYLE, script_src="'self'")


def stripe_headers() -> dict[str, str]:
    """The checkout's Stripe policy with the portal's stylesheet."""
    result = checkout_stripe.headers([])
    result["Content-Security-Policy"] = result["Content-Security-Policy"].replace(
        pages.style_hash(pages.PAGE_CSS), STYLE)
    return result
