"""QR codes: `/qr/CODE.svg` and `.png` for screens, `.pdf` and `.eps` (vector) for print.

The symbol holds `HTTPS://HOST/S/CODE` in upper case: every character is in QR's
alphanumeric set (5.5 bits each instead of 8), so the symbol is several versions smaller
than the lower-case legacy URL at the same error correction, and the upper-case `/S/`
path tells the redirect that the visit came from a scan. A `site.url` with lower-case
letters in its path keeps that path's case (paths are case-sensitive), and the symbol
uses byte mode. Error correction defaults to `shortlinks.qr_error` (H leaves room for a
logo over the middle).

Query parameters, each checked (a value out of range is a 400, never ignored):
`scale` module size (pixels for PNG/SVG, points for PDF/EPS), 1 to `qr_max_scale`;
`error` L, M, Q or H; `border` quiet zone in modules, 0 to `qr_max_border`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import segno
from aiohttp import web

from shortlinks import codes
from shortlinks.service import Service

KINDS = {
    "svg": "image/svg+xml",
    "png": "image/png",
    "pdf": "application/pdf",
    "eps": "application/postscript",
}
TEXT_KINDS = {"eps"}
ERRORS = ("L", "M", "Q", "H")
CACHE = "public, max-age=86400"


class BadParameter(ValueError):
    """A query parameter out of its range: the message says the range."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def render(text: str, kind: str, *, error: str, scale: int, border: int) -> bytes:
    symbol = segno.make_qr(text, error=error, boost_error=False)
    if kind in TEXT_KINDS:  # segno writes these as text
        text_out = io.StringIO()
        symbol.save(text_out, kind=kind, scale=scale, border=border)
        return text_out.getvalue().encode("ascii")
    out = io.BytesIO()
    symbol.save(out, kind=kind, scale=scale, border=border)
    return out.getvalue()


def _whole(query: dict[str, str], name: str, default: int, high: int, low: int) -> int:
    try:
        value = int(query.get(name, default))
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise BadParameter(f"bad_{name}", f"{name} must be a whole number from {low} to {high}")
    return value


@dataclass(frozen=True, slots=True)
class Options:
    error: str
    scale: int
    border: int


def options(query: dict[str, str], service: Service) -> Options:
    """scale, error and border from the query, or the settings' defaults."""
    conf = service.settings.shortlinks
    error = query.get("error", conf.qr_error)
    if error not in ERRORS:
        raise BadParameter("bad_error", f"error must be one of {', '.join(ERRORS)}")
    return Options(
        error,
        _whole(query, "scale", conf.qr_scale, conf.qr_max_scale, 1),
        _whole(query, "border", conf.qr_border, conf.qr_max_border, 0),
    )


async def handle(request: web.Request, service: Service) -> web.Response:
    redirector = service.redirector
    raw, _, kind = request.match_info["name"].rpartition(".")
    if kind not in KINDS:
        return redirector.error(
            request, 404, "not_found", f"QR codes are {', '.join('.' + k for k in KINDS)}"
        )
    try:
        chosen = options(dict(request.query), service)
    except BadParameter as exc:
        return redirector.error(request, 400, exc.kind, str(exc))
    try:
        entry = redirector.fresh(raw) or await redirector.lookup(raw)
    except codes.MalformedCode as exc:
        return redirector.error(request, 400, "malformed_code", str(exc))
    if entry is None:
        return redirector.error(request, 404, "unknown_code", codes.unknown_message(raw))
    text = service.qr_text(entry.code)
    body = render(text, kind, error=chosen.error, scale=chosen.scale, border=chosen.border)
    return web.Response(body=body, content_type=KINDS[kind], headers={"Cache-Control": CACHE})
