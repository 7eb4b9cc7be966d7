"""QR codes for print (PDF, EPS), their checked parameters, and the case of a site path."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import segno
from aiohttp.test_utils import TestClient

from finews.app import create_app
from finews.core.errors import problem_type
from finews.core.settings import Settings
from tests.shortlinks_support import KEY, SITE, create

JSON = {"Accept": "application/json"}


def expected(text: str, kind: str, *, error: str, scale: int = 8, border: int = 4) -> bytes:
    out = io.BytesIO()
    segno.make_qr(text, error=error, boost_error=False).save(
        out, kind=kind, scale=scale, border=border
    )
    return out.getvalue()


async def test_pdf_and_eps_downloads_for_print(client: TestClient) -> None:
    code = (await create(client))["code"]
    for kind, media, magic in (
        ("pdf", "application/pdf", b"%PDF-"),
        ("eps", "application/postscript", b"%!PS-Adobe-3.0 EPSF-3.0"),
    ):
        response = await client.get(f"/qr/{code}.{kind}")
        assert response.status == 200 and response.content_type == media
        assert (await response.read()).startswith(magic)


async def test_error_and_border_are_honoured(client: TestClient) -> None:
    code = (await create(client))["code"]
    text = f"HTTPS://NEWS.EXAMPLE.CN/S/{code}"
    response = await client.get(f"/qr/{code}.svg?error=L&border=1")
    assert await response.read() == expected(text, "svg", error="L", border=1)
    assert await response.read() != expected(text, "svg", error="H", border=1)
    response = await client.get(f"/qr/{code}.svg?border=0")
    assert await response.read() == expected(text, "svg", error="H", border=0)


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("error=X", "bad_error"),
        ("error=h", "bad_error"),
        ("error=", "bad_error"),
        ("border=-1", "bad_border"),
        ("border=17", "bad_border"),
        ("border=two", "bad_border"),
        ("scale=0", "bad_scale"),
    ],
)
async def test_bad_error_or_border_is_a_400_problem(
    client: TestClient, query: str, kind: str
) -> None:
    code = (await create(client))["code"]
    response = await client.get(f"/qr/{code}.pdf?{query}", headers=JSON)
    assert response.status == 400 and response.content_type == "application/problem+json"
    assert (await response.json())["type"] == problem_type(kind)


@pytest.mark.parametrize(
    ("base", "printed"),
    [
        ("https://news.example.cn/News", "HTTPS://NEWS.EXAMPLE.CN/News/S/{code}"),
        ("https://news.example.cn/NEWS", "HTTPS://NEWS.EXAMPLE.CN/NEWS/S/{code}"),
    ],
)
async def test_the_printed_url_keeps_the_case_of_the_site_path(
    aiohttp_client: Callable[..., Any],
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    base: str,
    printed: str,
) -> None:
    (tmp_path / "none").mkdir()
    settings = make_settings(site__url=base, api__keys=[KEY], posts__dir=str(tmp_path / "none"))
    client = await aiohttp_client(create_app(settings))
    code = (await create(client, f"{SITE}/a.html"))["code"]
    text = printed.format(code=code)
    symbol = segno.make_qr(text, error="H", boost_error=False)
    assert symbol.mode == ("byte" if "News" in text else "alphanumeric")
    response = await client.get(f"/qr/{code}.svg")
    assert await response.read() == expected(text, "svg", error="H")
