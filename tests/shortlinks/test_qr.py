"""QR codes over HTTP: upper-case alphanumeric content, bounded size, cache headers, 404."""

from __future__ import annotations

import io
import re

import segno
from aiohttp.test_utils import TestClient

from finews.core.errors import problem_type
from tests.shortlinks_support import create


async def test_svg_and_png_encode_the_upper_case_scan_url(client: TestClient) -> None:
    code = (await create(client))["code"]
    text = f"HTTPS://NEWS.EXAMPLE.CN/S/{code}"
    symbol = segno.make_qr(text, error="h", boost_error=False)
    assert symbol.mode == "alphanumeric" and symbol.error == "H"
    lower = segno.make_qr(
        f"https://news.example.cn/html_News/NewsShare.html?infoCode={code}",
        error="h",
        boost_error=False,
    )
    assert symbol.version < lower.version  # the point of the upper-case form
    response = await client.get(f"/qr/{code}.svg")
    assert response.status == 200 and response.content_type == "image/svg+xml"
    assert response.headers["Cache-Control"] == "public, max-age=86400"
    svg = await response.text()
    width = int(re.search(r'width="(\d+)"', svg).group(1))
    assert width == symbol.symbol_size(scale=8, border=4)[0]
    expected = segno.make_qr(text, error="h", boost_error=False)
    out = io.BytesIO()
    expected.save(out, kind="svg", scale=8, border=4)
    assert svg.encode() == out.getvalue()
    response = await client.get(f"/qr/{code}.png?scale=3")
    assert response.status == 200 and response.content_type == "image/png"
    png = await response.read()
    assert png.startswith(b"\x89PNG")
    size = int.from_bytes(png[16:20], "big")  # IHDR width
    assert size == symbol.symbol_size(scale=3, border=4)[0]


async def test_scanned_path_redirects(client: TestClient) -> None:
    link = await create(client)
    response = await client.get(f"/S/{link['code']}", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == link["target"]


async def test_qr_errors(client: TestClient) -> None:
    assert (await client.get("/qr/NW202205240000000001.svg")).status == 404
    assert (await client.get("/qr/NW2022.svg")).status == 400
    code = (await create(client))["code"]
    assert (await client.get(f"/qr/{code}.gif")).status == 404
    for scale in ("0", "41", "big"):
        response = await client.get(
            f"/qr/{code}.png?scale={scale}", headers={"Accept": "application/json"}
        )
        assert response.status == 400
        assert (await response.json())["type"] == problem_type("bad_scale")
