"""Helpers of the console tests: an app on the test Redis, people, and signing in."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from finews.console import users
from finews.core.appkeys import REDIS
from tests.shortlinks_support import SITE

HTTP_SITE = SITE.replace("https:", "http:")  # the test client sends no Secure cookie over HTTP
PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf" value="([^"]*)"')


def csrf_of(html: str) -> str:
    found = CSRF_RE.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def add_user(client: TestClient, name: str, role: str) -> None:
    await users.add(client.app[REDIS], name, role, PASSWORD)


async def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> Any:
    form = await client.get("/console/login")
    token = csrf_of(await form.text())
    return await client.post(
        "/console/login",
        data={"name": name, "password": password, "csrf": token},
        allow_redirects=False,
    )


async def as_role(client: TestClient, role: str) -> str:
    """Sign in a new user of `role`; the CSRF token of the session."""
    await add_user(client, role, role)
    response = await sign_in(client, role)
    assert response.status == 303, await response.text()
    page = await client.get("/console/")
    return csrf_of(await page.text())


async def post(client: TestClient, path: str, csrf: str, **fields: str) -> Any:
    return await client.post(path, data={"csrf": csrf, **fields}, allow_redirects=False)
