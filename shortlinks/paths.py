"""The URL paths of share links, declared once: the routes, the URL builders and the loop
rule (a target may not be a share link itself) all read them from here.

`/s/CODE` is typed, `/S/CODE` scanned (QR codes hold it in upper case), the legacy form
`/html_News/NewsShare.html?infoCode=CODE` is the one printed and shared for years, and
`/qr/CODE.svg` / `/qr/CODE.png` are the QR code images.
"""

from __future__ import annotations

SHORT = "/s/"
SCANNED = "/S/"
QR = "/qr/"
LEGACY = "/html_News/NewsShare.html"
LEGACY_PARAMETER = "infoCode"
# Paths that redirect: a target starting with one of them would loop.
SHARE_PATHS = (SHORT, SCANNED, LEGACY)


def short(code: str) -> str:
    return f"{SHORT}{code}"


def scanned(code: str) -> str:
    return f"{SCANNED}{code}"


def legacy(code: str) -> str:
    return f"{LEGACY}?{LEGACY_PARAMETER}={code}"


def qr(code: str, kind: str) -> str:
    return f"{QR}{code}.{kind}"
