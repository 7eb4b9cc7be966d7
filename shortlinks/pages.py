"""Small answers for people and programs: error pages (HTML, or problem details when asked)
and the frame of every HTML page, in the site's language.

A browser gets a small HTML page; a client whose Accept names `application/json` or
`application/problem+json` (and not `text/html`) gets RFC 9457 problem details, the shape
every JSON error of the service has (their `detail` stays English, for programs).

Words come from the gettext catalogue shortlinks/locale/LANG/LC_MESSAGES/shortlinks.po
(see finews.core.i18n): Chinese for zh-* sites, English otherwise. Pages link the
stylesheet the app serves at `/assets/share.css` (no CDN).
"""

from __future__ import annotations

import gettext
import html
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from finews.core.errors import Problem
from finews.core.i18n import translations

LOCALE = Path(__file__).resolve().parent / "locale"
STYLESHEET = Path(__file__).resolve().parent / "static" / "share.css"
STYLE_PATH = "/assets/share.css"
NO_STORE = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "X-Content-Type-Options": "nosniff",
}
PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{title}</title>
<link rel="stylesheet" href="{style}"></head>
<body><main class="{kind}">{body}</main></body></html>
"""
JSON_TYPES = ("application/json", "application/problem+json")


def words(lang: str) -> gettext.NullTranslations:
    """The share pages' catalogue for a site language."""
    return translations(LOCALE, "shortlinks", lang)


def wants_json(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "text/html" not in accept and any(kind in accept for kind in JSON_TYPES)


def page(
    title: str,
    body: str,
    lang: str,
    *,
    home: str,
    kind: str = "page",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """An HTML page; `body` is trusted HTML, `title` is escaped here."""
    text = PAGE.format(
        lang=html.escape(lang),
        title=html.escape(title),
        style=html.escape(urlsplit(home).path.rstrip("/") + STYLE_PATH),
        kind=kind,
        body=body,
    )
    return web.Response(text=text, content_type="text/html", status=status, headers=headers)


def _headline(status: int, _: gettext.NullTranslations) -> str:
    names = {
        400: _.gettext("This is no share link"),
        404: _.gettext("Share link not found"),
        410: _.gettext("This share link no longer works"),
        429: _.gettext("Too many requests"),
        503: _.gettext("Share links are unavailable"),
    }
    return names.get(status, str(status))


def _explanation(kind: str, message: str, retry: str | None, _: gettext.NullTranslations) -> str:
    """What happened, in the reader's words; the English detail when the kind has none
    (the page shows the detail under it too, for whoever the reader asks for help)."""
    texts = {
        "malformed_code": _.gettext(
            "The address is incomplete or mistyped. Check it and try again."
        ),
        "unknown_code": _.gettext("No article has this share link. It may have been mistyped."),
        "gone": _.gettext("The editors have turned this share link off, or it has expired."),
        "rate_limited": _.gettext("Too many unknown share links were opened from your network."),
        "unavailable": _.gettext("Share links are unavailable for a moment."),
    }
    text = texts.get(kind, message)
    if retry:
        text += " " + _.gettext("Try again in {seconds} seconds.").format(seconds=retry)
    return text


def error(
    request: web.Request,
    status: int,
    kind: str,
    message: str,
    *,
    home: str,
    lang: str = "en",
    headers: dict[str, str] | None = None,
) -> web.Response:
    """A small error page in the site's language linking to its home, or problem details
    (with `home`) when the client asks for JSON. A Retry-After in `headers` goes to both."""
    all_headers = {**NO_STORE, **(headers or {})}
    if wants_json(request):
        retry = all_headers.pop("Retry-After", None)
        return Problem(
            status,
            kind,
            message,
            headers=all_headers,
            home=home,
            retry_after=int(retry) if retry else None,
        ).response()
    _ = words(lang)
    headline = _headline(status, _)
    home_text = _.gettext("Go to the home page")  # outside the f-string: Babel extracts it
    body = (
        f"<h1>{html.escape(headline)}</h1>"
        f"<p>{html.escape(_explanation(kind, message, all_headers.get('Retry-After'), _))}</p>"
        f'<p class="detail" lang="en">{html.escape(message)}</p>'
        f'<p><a class="button" href="{html.escape(home)}">'
        f"{html.escape(home_text)}</a></p>"
    )
    return page(headline, body, lang, home=home, kind="error", status=status, headers=all_headers)


async def stylesheet(request: web.Request) -> web.Response:
    return web.Response(
        body=STYLESHEET.read_bytes(),
        content_type="text/css",
        charset="utf-8",
        headers={"Cache-Control": "public, max-age=86400"},
    )
