"""QR codes for print: `/qr/CODE.svg` and `/qr/CODE.png`.

The symbol holds `HTTPS://HOST/S/CODE` in upper case: every character is in QR's
alphanumeric set (5.5 bits each instead of 8), so the symbol is several versions smaller
than the lower-case legacy URL at the same error correction, and the upper-case `/S/`
path tells the redirect that the visit came from a scan. Error correction defaults to H,
which leaves room for a logo over the middle.
"""

from __future__ import annotations

import io

import segno
from aiohttp import web

from shortlinks import codes
from shortlinks.service import Service

KINDS = {"svg": "image/svg+xml", "png": "image/png"}
CACHE = "public, max-age=86400"


def render(text: str, kind: str, *, error: str, scale: int, border: int) -> bytes:
    symbol = segno.make_qr(text, error=error, boost_error=False)
    out = io.BytesIO()
    symbol.save(out, kind=kind, scale=scale, border=border)
    return out.getvalue()


async def handle(request: web.Request, service: Service) -> web.Response:
    conf = service.settings.shortlinks
    redirector = service.redirector
    raw, _, kind = request.match_info["name"].rpartition(".")
    if kind not in KINDS:
        return redirector.error(request, 404, "not_found", "QR codes are .svg or .png")
    try:
        scale = int(request.query.get("scale", conf.qr_scale))
    except ValueError:
        scale = 0
    if not 1 <= scale <= conf.qr_max_scale:
        return redirector.error(
            request, 400, "bad_scale", f"scale must be a whole number from 1 to {conf.qr_max_scale}"
        )
    try:
        entry = redirector.fresh(raw) or await redirector.lookup(raw)
    except codes.MalformedCode as exc:
        return redirector.error(request, 400, "malformed_code", str(exc))
    if entry is None:
        return redirector.error(request, 404, "unknown_code", codes.unknown_message(raw))
    body = render(
        service.qr_text(entry.code), kind, error=conf.qr_error, scale=scale, border=conf.qr_border
    )
    return web.Response(body=body, content_type=KINDS[kind], headers={"Cache-Control": CACHE})
