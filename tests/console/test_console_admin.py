"""Admins, API keys with scopes, the users command, and the console's language."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from finews.app import create_app
from finews.core import access
from finews.core.clock import FrozenClock
from finews.core.settings import Settings
from tests.console.support import PASSWORD, as_role, post, sign_in
from tests.envs import clean_env
from tests.shortlinks_support import ARTICLE, create


async def _make_key(web: TestClient, csrf: str, *scopes: str) -> str:
    response = await web.post(
        "/console/keys",
        data=[
            ("csrf", csrf),
            ("action", "create"),
            ("name", "cms"),
            *[("scope", s) for s in scopes],
        ],
    )
    assert response.status == 200
    text = await response.text()
    return text.split('id="new-key" readonly value="')[1].split('"')[0]


async def test_a_scoped_key_does_what_its_scopes_allow_until_revoked(web: TestClient) -> None:
    link = await create(web)
    csrf = await as_role(web, "admin")
    token = await _make_key(web, csrf, "links:read")
    auth = {"Authorization": f"Bearer {token}"}
    assert (await web.get(f"/api/links/{link['code']}", headers=auth)).status == 200
    refused = await web.post("/api/links", json={"url": ARTICLE + "?b"}, headers=auth)
    assert refused.status == 403
    body = await refused.json()
    assert body["type"].endswith("/forbidden") and "links:write" in body["detail"]
    stats = await web.get(f"/api/links/{link['code']}/stats", headers=auth)
    assert stats.status == 403 and "stats:read" in (await stats.json())["detail"]

    writer = await _make_key(web, csrf, "links:write", "links:read")
    made = await web.post(
        "/api/links", json={"url": ARTICLE + "?b"}, headers={"Authorization": f"Bearer {writer}"}
    )
    assert made.status == 201

    page = await (await web.get("/console/keys")).text()
    assert token not in page and writer not in page  # shown once only
    key_id = access.digest(token)[:12]  # the links:read key's row (both were made at once)
    assert f'data-key="{key_id}"' in page
    assert (await post(web, "/console/keys", csrf, action="revoke", id=key_id)).status in (200, 303)
    assert (await web.get(f"/api/links/{link['code']}", headers=auth)).status == 401


async def test_an_admin_adds_and_removes_users_and_an_editor_may_not(
    web: TestClient,
    aiohttp_client: Callable[..., Any],
    console_settings: Settings,
) -> None:
    csrf = await as_role(web, "admin")
    added = await post(
        web, "/console/users", csrf, action="add", name="wang", role="editor", password=PASSWORD
    )
    assert added.status == 303
    other = await aiohttp_client(create_app(console_settings, clock=FrozenClock()))
    assert (await sign_in(other, "wang")).status == 303
    assert (await other.get("/console/users")).status == 403  # an editor is no admin
    removed = await post(web, "/console/users", csrf, action="remove", name="wang")
    assert removed.status == 303
    gone = await other.get("/console/links", allow_redirects=False)
    assert gone.status == 303  # a removed user's session no longer opens pages


@pytest.mark.parametrize(
    ("language", "words"),
    [("zh-CN", ("概览", "退出登录", "新建链接")), ("en", ("Dashboard", "Sign out", "New link"))],
)
async def test_the_console_speaks_the_site_language(
    aiohttp_client: Callable[..., Any],
    console_settings: Settings,
    language: str,
    words: tuple[str, ...],
) -> None:
    client = await aiohttp_client(create_app(console_settings.replace(site__language=language)))
    await as_role(client, "editor")
    text = await (await client.get("/console/")).text()
    assert f'<html lang="{language}">' in text
    for word in words:
        assert word in text
    wrong = await sign_in(client, "editor", "not it")
    expected = "用户名或密码错误" if language == "zh-CN" else "Wrong name or password"
    assert expected in await wrong.text()


def _users(tmp_path: Path, redis_url: str, *args: str, stdin: str = "") -> Any:
    return subprocess.run(
        [sys.executable, "-m", "finews", "users", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=clean_env(FINEWS_REDIS__URL=redis_url, FINEWS_DATA__DIR=str(tmp_path)),
        timeout=60,
        check=False,
    )


async def test_the_users_command_adds_lists_changes_and_removes(
    tmp_path: Path,
    redis_url: str,
    aiohttp_client: Callable[..., Any],
    console_settings: Settings,
) -> None:
    added = _users(
        tmp_path,
        redis_url,
        "add",
        "zhao",
        "--role",
        "editor",
        "--password-stdin",
        stdin="s3cret-words\n",
    )
    assert added.returncode == 0, added.stderr
    short = _users(
        tmp_path, redis_url, "add", "qian", "--role", "admin", "--password-stdin", stdin="short\n"
    )
    assert short.returncode == 1 and "at least 8" in short.stderr
    listed = _users(tmp_path, redis_url, "list")
    assert listed.stdout.splitlines() == ["zhao\teditor"]
    changed = _users(
        tmp_path, redis_url, "passwd", "zhao", "--password-stdin", stdin="new-words-42\n"
    )
    assert changed.returncode == 0, changed.stderr
    client = await aiohttp_client(create_app(console_settings))
    assert (await sign_in(client, "zhao", "s3cret-words")).status == 401
    assert (await sign_in(client, "zhao", "new-words-42")).status == 303
    assert _users(tmp_path, redis_url, "remove", "zhao").returncode == 0
    assert _users(tmp_path, redis_url, "list").stdout == ""
