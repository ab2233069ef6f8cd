"""``BILLGATE_ALLOWED_RETURN_URLS`` and the one check every link back to the app goes
through (``billing/return_urls.py``): the entry forms as the README states them, and URLs
read as browsers read them (WHATWG), refusing what a browser would rewrite."""

from __future__ import annotations

import pytest

from billgate.billing.return_urls import EntryError, check, is_allowed, parse_entry
from billgate.errors import ReturnUrlNotAllowed

MAKE_RUN = ("localhost", "127.0.0.1")  # what `make run` sets


@pytest.mark.parametrize(("entry", "url", "allowed"), [
    # scheme + host: the default port only, any path
    ("https://app.example.com", "https://app.example.com/billing?x=1#top", True),
    ("https://app.example.com", "https://app.example.com:443/", True),
    ("https://app.example.com", "https://app.example.com:8443/", False),
    ("https://app.example.com", "http://app.example.com/", False),
    ("https://app.example.com", "https://app.example.com.evil.io/", False),
    ("https://app.example.com", "https://evil.io/https://app.example.com", False),
    ("http://localhost", "http://localhost:3000/", False),
    # a port, or any port with :*
    ("https://app.example.com:8443", "https://app.example.com:8443/x", True),
    ("https://app.example.com:8443", "https://app.example.com/x", False),
    ("http://localhost:*", "http://localhost:3000/billing", True),
    ("http://localhost:*", "http://localhost/", True),
    ("http://localhost:*", "https://localhost:3000/", False),
    ("http://[::1]:*", "http://[::1]:3000/", True),
    # a path prefix, at a / boundary
    ("https://app.example.com/billing", "https://app.example.com/billing", True),
    ("https://app.example.com/billing", "https://app.example.com/billing/done?ok=1", True),
    ("https://app.example.com/billing", "https://app.example.com/billing-old", False),
    ("https://app.example.com/billing", "https://app.example.com/", False),
    ("https://app.example.com/billing/", "https://app.example.com/billing", True),
    ("https://app.example.com/billing", "https://app.example.com/billing/../admin", False),
    ("http://localhost:*/app", "http://localhost:3000/app/x", True),
    # a bare host: http or https, any port, any path
    ("localhost", "http://localhost:3000/billing", True),
    ("localhost", "https://localhost/", True),
    ("localhost", "http://localhost.evil.io/", False),
    ("localhost:3000", "http://localhost:3000/", True),
    ("localhost:3000", "http://localhost:3001/", False),
    ("127.0.0.1", "http://127.0.0.1:8080/", True),
])
def test_entries(entry: str, url: str, allowed: bool) -> None:
    assert is_allowed(url, [entry]) is allowed


@pytest.mark.parametrize(("url", "why"), [
    ("http://evil.com\\@localhost/x", "backslash"),       # the cancelUrl
    ("http://localhost\\@evil.com/x", "backslash"),
    ("http:/\\evil.com/", "backslash"),
    ("http://loc\talhost:3000/", "tab"),
    ("http://localhost:3000/\nx", "newline"),
    (" http://localhost/", "space"),
    ("http://user@localhost/", "user info"),
    ("http://evil.com@localhost/", "user info"),
    ("http://@localhost/", "user info"),
    ("http://%6cocalhost/", "not written as browsers show it"),
    ("http://LOCALHOST/", None),                           # plain case is not ambiguous
    ("http://0x7f.1/", "not written as browsers show it"),
    ("http://2130706433/", "not written as browsers show it"),
    ("javascript:alert(1)//localhost", "http:// or https://"),
    ("http:localhost/", "http:// or https://"),
    ("//localhost/", "http:// or https://"),
])
def test_what_browsers_would_rewrite_is_refused(url: str, why: str | None) -> None:
    if why is None:
        assert check(url, MAKE_RUN) == "http://localhost/"
        return
    with pytest.raises(ReturnUrlNotAllowed, match=why) as refused:
        check(url, MAKE_RUN, field="cancelUrl")
    assert refused.value.field == ["cancelUrl"]


def test_an_accepted_url_is_kept_as_browsers_serialise_it() -> None:
    assert check("HTTP://localhost:3000/a/./b/../c?q=1#f", MAKE_RUN) == \
        "http://localhost:3000/a/c?q=1#f"


def test_a_url_not_on_the_list_says_what_to_add() -> None:
    with pytest.raises(ReturnUrlNotAllowed, match="BILLGATE_ALLOWED_RETURN_URLS"):
        check("https://elsewhere.example/", MAKE_RUN)


@pytest.mark.parametrize("entry", ["https://app.example.com/?x=1", "localhost/path",
                                   "ftp://files.example", "https://a\\b", "https://u@host"])
def test_entries_that_cannot_be_read_are_refused(entry: str) -> None:
    with pytest.raises(EntryError):
        parse_entry(entry)


def test_a_bad_entry_stops_start_up_in_one_line() -> None:
    from billgate.settings import ConfigError, Settings

    with pytest.raises(ConfigError, match="^BILLGATE_ALLOWED_RETURN_URLS: 'ftp://x'"):
        Settings.from_env({"BILLGATE_ALLOWED_RETURN_URLS": "https://ok.example,ftp://x"})
