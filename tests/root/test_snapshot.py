"""The data of v1 still works: a Redis snapshot and an export made by the v1 code.

tests/data/make_snapshot.py made both files with the code of the v1 data layout (links
from posts, the API and the CLI, visits through real redirects, a WebSub subscription with
a queued delivery, stored feed documents). A change of key names or value formats must
keep them readable (through a migration): these tests load them as a deployed server
would find them, start the app as usual (which migrates the keys to today's names, see
finews/migrate.py) and check what users see.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from feeds import keys as feed_keys
from finews.app import create_app
from finews.core.settings import Settings
from finews.migrate import SCHEMA, SCHEMA_KEY
from shortlinks import keys as link_keys
from tests.envs import clean_env
from websub import keys as hub_keys
from websub.store import digest, subscription_id

DATA = Path(__file__).resolve().parents[1] / "data"
SNAPSHOT = json.loads((DATA / "redis_snapshot_v1.json").read_text(encoding="utf-8"))
META = SNAPSHOT["meta"]
EXPORT = DATA / "export_v1.jsonl"
AUTH = {"Authorization": f"Bearer {META['api_key']}"}
CALLBACK_PORT = 47913  # the callback URL stored in the snapshot names it
FINEWS = str(Path(sys.executable).parent / "finews")


def restore(url: str) -> None:
    """Every key of the snapshot, with the time to live it had, into a flushed server."""
    client = redis.Redis.from_url(url)
    assert client.dbsize() == 0
    pipe = client.pipeline(transaction=False)
    for row in SNAPSHOT["keys"]:
        pipe.restore(row["key"], max(row["pttl"], 0), base64.b64decode(row["dump"]))
    pipe.execute()
    client.close()


class Callback:
    """The subscriber named in the snapshot, on 127.0.0.1: records deliveries."""

    def __init__(self) -> None:
        self.deliveries: asyncio.Queue[tuple[dict[str, str], bytes]] = asyncio.Queue()
        app = web.Application()
        app.router.add_post("/cb/snapshot", self.deliver)
        self.server = TestServer(app, host="127.0.0.1", port=CALLBACK_PORT)

    async def deliver(self, request: web.Request) -> web.Response:
        await self.deliveries.put((dict(request.headers), await request.read()))
        return web.Response(status=204)


@pytest.fixture
async def callback() -> AsyncIterator[Callback]:
    sub = Callback()
    try:
        await sub.server.start_server()
    except OSError as exc:
        pytest.fail(f"127.0.0.1:{CALLBACK_PORT} (the snapshot's callback) is taken: {exc}")
    yield sub
    await sub.server.close()


@pytest.fixture
async def app_client(
    callback: Callback,
    aiohttp_client: Callable[..., Any],
    make_settings: Callable[..., Settings],
    redis_url: str,
    tmp_path: Path,
) -> TestClient:
    """The app on the restored data: a follower, so feeds come from the stored documents."""
    restore(redis_url)
    (tmp_path / "no-posts").mkdir()
    settings = make_settings(
        site__url=META["site"],
        api__keys=[META["api_key"]],
        posts__dir=str(tmp_path / "no-posts"),
        feeds__role="follower",
        websub__allow_private_callbacks=True,
        websub__retry_delay=0.05,
    )
    return await aiohttp_client(create_app(settings))


async def test_the_start_moved_the_data_to_todays_names(
    app_client: TestClient, redis_url: str
) -> None:
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    assert not list(raw.scan_iter(match=link_keys.LEGACY))
    assert not list(raw.scan_iter(match=hub_keys.LEGACY))
    assert not raw.exists(feed_keys.LEGACY_ETAGS)
    assert raw.get(SCHEMA_KEY) == str(SCHEMA)
    codes = [link["code"] for link in META["links"].values()]
    assert all(raw.exists(link_keys.link(code)) for code in codes)
    assert set(codes) <= set(raw.zrange(link_keys.CODES, 0, -1))
    assert all(raw.exists(link_keys.url(link["url"])) for link in META["links"].values())
    assert all(raw.exists(link_keys.stats(code)) for code in META["stats"])
    assert raw.exists(link_keys.salt(META["day"].replace("-", "")))
    assert raw.exists(hub_keys.subscription(subscription_id(META["topic"], META["callback"])))
    assert raw.exists(hub_keys.topic(digest(META["topic"])))
    assert set(raw.hkeys(feed_keys.ETAGS)) >= set(META["feeds"])
    raw.close()


def _as_recorded(answer: dict[str, Any], recorded: dict[str, Any]) -> dict[str, Any]:
    """The answer's members the snapshot recorded, at the levels where later releases add
    members (the daily `series`; device, browser and OS counts): never a changed value."""
    kept = {key: answer.get(key) for key in recorded}
    kept["totals"] = {key: answer["totals"].get(key) for key in recorded["totals"]}
    kept["days"] = [
        {key: row.get(key) for key in old}
        for row, old in zip(answer["days"], recorded["days"], strict=True)
    ]
    return kept


async def test_statistics_read_back_as_recorded(app_client: TestClient) -> None:
    day = META["day"]
    for code, recorded in META["stats"].items():
        response = await app_client.get(
            f"/api/links/{code}/stats", headers=AUTH, params={"from": day, "to": day}
        )
        assert response.status == 200
        assert _as_recorded(await response.json(), recorded) == recorded
    assert recorded["totals"]["clicks"] > 0  # the snapshot holds real visits


async def test_links_redirect_to_their_urls(app_client: TestClient) -> None:
    links = META["links"]
    for name in ("post", "post_new", "titled", "cli"):
        response = await app_client.get(f"/s/{links[name]['code']}", allow_redirects=False)
        assert (name, response.status) == (name, 302)
        assert response.headers["Location"] == links[name]["url"]
    legacy = await app_client.get(
        "/html_News/NewsShare.html",
        allow_redirects=False,
        params={"infoCode": links["post"]["code"]},
    )
    assert (legacy.status, legacy.headers["Location"]) == (302, links["post"]["url"])
    disabled = await app_client.get(f"/s/{links['disabled']['code']}", allow_redirects=False)
    assert disabled.status == 410
    shown = await (
        await app_client.get(f"/api/links/{links['titled']['code']}", headers=AUTH)
    ).json()
    assert (shown["title"], shown["expires_at"]) == (
        links["titled"]["title"],
        links["titled"]["expires_at"],
    )


async def test_stored_feeds_are_served(app_client: TestClient) -> None:
    for path, recorded in META["feeds"].items():
        for _ in range(100):  # the follower loads the stored documents at start
            response = await app_client.get(path, headers={"Accept-Encoding": "identity"})
            if response.status != 503:
                break
            await asyncio.sleep(0.1)
        body = await response.read()
        assert (path, response.status) == (path, recorded["status"])
        assert response.headers["ETag"] == recorded["etag"]
        assert hashlib.sha256(body).hexdigest() == recorded["sha256"]


async def test_queued_delivery_reaches_the_subscriber(
    app_client: TestClient, callback: Callback
) -> None:
    headers, body = await asyncio.wait_for(callback.deliveries.get(), 30)
    assert hashlib.sha256(body).hexdigest() == META["delivery"]["sha256"]
    assert headers["Content-Type"] == META["delivery"]["content_type"]
    signature = hmac.new(META["secret"].encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Hub-Signature"] == f"sha256={signature}"
    assert f'<{META["topic"]}>; rel="self"' in headers["Link"]


def finews(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FINEWS, *args, "--config", str(config)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def as_v1(line: dict[str, Any]) -> dict[str, Any]:
    """An export line of today in the v1 export's shape: per-day counts back in `stats`,
    day sketches in `visitors`, without what v1 did not carry (hours, device counts,
    expiry times, summary, forward_query)."""
    stats = dict(line["stats"])
    for day, bucket in line["days"].items():
        stats.update({f"{day}:{name}": n for name, n in bucket["counts"].items()})
    visitors = {day: b["visitors"] for day, b in line["days"].items() if "visitors" in b}
    dropped = {"days", "hours", "expire_at", "summary", "forward_query"}
    return {
        **{k: v for k, v in line.items() if k not in dropped},
        "stats": stats,
        "visitors": visitors,
    }


def unexpired(text: str) -> dict[str, Any]:
    """A v1 export line less the days an import today finds past `retention_days` (400)."""
    line = json.loads(text)
    oldest = time.strftime("%Y%m%d", time.gmtime(time.time() - 401 * 86400))
    line["stats"] = {k: v for k, v in line["stats"].items() if ":" not in k or k[:8] > oldest}
    line["visitors"] = {k: v for k, v in line["visitors"].items() if k > oldest}
    return line


def test_import_then_export_gives_back_the_v1_export(redis_url: str, tmp_path: Path) -> None:
    config = tmp_path / "finews.toml"
    config.write_text(
        f'[site]\nurl = "{META["site"]}"\n[redis]\nurl = "{redis_url}"\n'
        f'[data]\ndir = "{tmp_path / "data"}"\n',
        encoding="utf-8",
    )
    imported = finews(config, "import", str(EXPORT))
    assert imported.returncode == 0, imported.stderr
    assert "imported: 6 links, skipped: 0 lines" in imported.stdout
    exported = finews(config, "export", str(tmp_path / "again.jsonl"))
    assert exported.returncode == 0, exported.stderr
    again = (tmp_path / "again.jsonl").read_text(encoding="utf-8").splitlines()
    v1 = EXPORT.read_text(encoding="utf-8").splitlines()
    assert [as_v1(json.loads(line)) for line in again] == [unexpired(line) for line in v1]
    for data in map(json.loads, again):  # the v1 days got an expiry from retention_days
        assert {f"day:{day}" for day in data["days"]} <= set(data["expire_at"])
