"""`/s/CODE+`: what a share link leads to, before following it, in the site's language.

The article's title once, its date (the code's date: a post's publication day) and its
summary when the link has one (links of posts keep the post's), a button to the article,
a QR code sized for print with vector downloads, and the share link with its status.
A deleted link answers 410, as its redirect does.
"""

from __future__ import annotations

import html
from urllib.parse import urlsplit

from aiohttp import web
from babel.dates import format_date

from finews.core.i18n import babel_locale
from shortlinks import codes, pages
from shortlinks.service import Service

DOWNLOADS = ("pdf", "eps", "svg", "png")


def N_(message: str) -> str:
    """Marks a word for the catalogue; it is translated where it is shown."""
    return message


STATES = {  # a link's status on the page (a deleted link has no page: 410)
    "active": N_("active"),
    "disabled": N_("disabled"),
    "expired": N_("expired"),
}


def _path(url: str) -> str:
    """The app's own images by path: they load from whichever address served the page."""
    return urlsplit(url).path


async def handle(request: web.Request, service: Service, raw: str) -> web.Response:
    redirector = service.redirector
    try:
        code = codes.parse(raw)
    except codes.MalformedCode as exc:
        return redirector.error(request, 400, "malformed_code", str(exc))
    link = await service.store.get(str(code))
    if link is None:
        return redirector.error(request, 404, "unknown_code", codes.unknown_message(raw))
    if link.deleted_at is not None:
        return redirector.error(request, 410, "gone", f"share link {raw} is deleted")
    lang = service.settings.site.language
    _ = pages.words(lang).gettext
    esc = html.escape
    state = link.gone(service.clock.now()) or "active"
    share = service.share_url(link.code)
    day = format_date(code.day, "long", locale=babel_locale(lang))
    title = link.title or link.code
    rows = [
        (_("Share link"), f'<a href="{esc(share)}">{esc(share)}</a>'),
        (_("Status"), esc(_(STATES[state]))),
    ]
    if link.expires_at:
        rows.append((_("Expires"), esc(link.expires_at.isoformat())))
    downloads = " ".join(
        f'<a href="{esc(_path(service.qr_url(link.code, kind)))}" download>{kind.upper()}</a>'
        for kind in DOWNLOADS
    )
    # marked strings stay outside f-strings, where Babel's extractor finds them
    alt = _("QR code of this article's share link")
    read, scan, printed = (
        _("Read the article"),
        _("Scan to open on a phone"),
        _("QR code for print:"),
    )
    body = (
        f"<h1>{esc(title)}</h1>"
        f'<p class="date"><time datetime="{code.day.isoformat()}">{esc(day)}</time></p>'
        + (f'<p class="summary">{esc(link.summary)}</p>' if link.summary else "")
        + f'<p><a class="button" href="{esc(link.url)}">{esc(read)}</a></p>'
        f'<figure class="qr"><img src="{esc(_path(service.qr_url(link.code)))}" width="240" '
        f'height="240" alt="{esc(alt)}">'
        f"<figcaption>{esc(scan)}</figcaption></figure>"
        f'<p class="downloads">{esc(printed)} {downloads}</p>'
        "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"
    )
    return pages.page(
        title, body, lang, home=service.home(), kind="preview", headers=pages.NO_STORE
    )
