"""`/s/CODE+`: what a share link leads to, before following it (title, URLs, QR code)."""

from __future__ import annotations

import html

from aiohttp import web

from shortlinks import codes, pages
from shortlinks.service import Service


async def handle(request: web.Request, service: Service, raw: str) -> web.Response:
    redirector = service.redirector
    try:
        code = str(codes.parse(raw))
    except codes.MalformedCode as exc:
        return redirector.error(request, 400, "malformed_code", str(exc))
    link = await service.store.get(code)
    if link is None:
        return redirector.error(request, 404, "unknown_code", codes.unknown_message(raw))
    esc = html.escape
    state = link.gone(service.clock.now()) or "active"
    rows = [
        ("Article", f'<a href="{esc(link.url)}">{esc(link.url)}</a>'),
        (
            "Share link",
            f'<a href="{esc(service.share_url(code))}">{esc(service.share_url(code))}</a>',
        ),
        ("Short link", esc(service.short_url(code))),
        ("Status", esc(state)),
        ("Created", esc(link.created_at.isoformat())),
    ]
    if link.expires_at:
        rows.append(("Expires", esc(link.expires_at.isoformat())))
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    body = (f"<p>{esc(link.title)}</p>" if link.title else "") + (
        f"<table>{table}</table>"
        f'<p><img src="{esc(service.qr_url(code))}" width="240" height="240" '
        f'alt="QR code for {esc(code)}"></p>'
    )
    return pages.page(
        link.title or code, body, service.settings.site.language, headers=pages.NO_STORE
    )
