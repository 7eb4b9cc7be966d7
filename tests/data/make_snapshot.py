"""Made tests/data/redis_snapshot_v1.json and tests/data/export_v1.jsonl with the v1 code.

Kept as the record of how the v1 files were made; it names v1 keys (`{websub}:...`), so it
runs only against a v1 checkout. Never regenerate the v1 files with later code: they are
what a v1 server left behind, which the migration (finews/migrate.py) must read.

Run once from the repository root: `.venv/bin/python tests/data/make_snapshot.py`. It
starts an embedded Valkey and a real `finews serve` on 127.0.0.1, then makes data the way
users do: posts get share links when built, links are made through the API (one with a
title and an expiry, one then disabled) and the CLI, visits arrive through real redirects
(WeChat, a QR scan, a bot), a subscriber on 127.0.0.1:CALLBACK_PORT subscribes to a feed
and its first delivery fails, so one delivery job stays queued. The server is stopped,
`finews export` writes the export, and every key is written with DUMP and PTTL.

The files are the record of the v1 data layout: tests/root/test_snapshot.py loads them into a
fresh server and checks the service still reads them. DUMP payloads carry the RDB version
of the server that made them (the embedded Valkey 8.1): RESTORE needs that version or newer.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import redis
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from finews.embedded_redis import EmbeddedRedis  # noqa: E402
from tests.envs import clean_env  # noqa: E402

DATA = Path(__file__).resolve().parent
SNAPSHOT = DATA / "redis_snapshot_v1.json"
EXPORT = DATA / "export_v1.jsonl"
FINEWS = str(Path(sys.executable).parent / "finews")

SITE = "https://news.example.cn"
KEY = "k-snapshot-v1-0123456789abcdef"
CALLBACK_PORT = 47913  # the test's subscriber binds the same port
CALLBACK = f"http://127.0.0.1:{CALLBACK_PORT}/cb/snapshot"
TOPIC = f"{SITE}/feeds/all.atom"
SECRET = "snapshot-secret-v1"
LEASE = 2_000_000_000  # seconds: the subscription outlives any test run
WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.30(0x18001e31) "
    "NetType/WIFI Language/zh_CN"
)
CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
LEGACY_CODE = "NW202205241346420001"

POSTS = {
    "2022-05-24-library.md": f"""---
title: "集美图书馆开放夜间阅览"
date: 2022-05-24 13:46:42 +0800
categories: shamenwanbao
tags: 民生
infoCode: {LEGACY_CODE}
---
集美区图书馆即日起开放夜间阅览。
""",
    "2022-06-25-metro.md": """---
title: "地铁3号线南延段开通"
date: 2022-06-25 09:30:00 +0800
categories: xiamenribao
tags: 交通
---
南延段全长约5公里，设站3座。
""",
}
NEW_POST = (
    "2022-07-02-summer.md",
    """---
title: "鹭岛夏季旅游升温"
date: 2022-07-02 16:05:12 +0800
categories: shamenwanbao
tags: 民生
---
多家景区推出惠民举措。
""",
)

CONFIG = """\
[site]
url = "{site}"
[posts]
dir = "{posts}"
[data]
dir = "{data}"
[redis]
url = "{redis}"
[api]
keys = ["{key}"]
[log]
access = false
[feeds]
watch_debounce = 50
[shortlinks]
visit_flush_interval = 0.1
[websub]
allow_private_callbacks = true
max_lease_seconds = {lease}
retry_delay = 2.0
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def until(check: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise SystemExit(f"make_snapshot: timed out waiting for {what}")


class Subscriber:
    """Answers verifications; refuses every delivery with 500, so the job stays queued."""

    def __init__(self) -> None:
        self.verified = asyncio.Event()
        self.deliveries = 0

    async def verify(self, request: web.Request) -> web.Response:
        self.verified.set()
        return web.Response(text=request.query["hub.challenge"])

    async def deliver(self, request: web.Request) -> web.Response:
        await request.read()
        self.deliveries += 1
        return web.Response(status=500)


def finews(config: Path, *args: str) -> str:
    done = subprocess.run(
        [FINEWS, *args, "--config", str(config)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise SystemExit(f"make_snapshot: finews {args[0]} failed: {done.stderr}")
    return done.stdout


async def make(work: Path, redis_url: str) -> dict[str, Any]:
    posts = work / "posts"
    posts.mkdir()
    for name, text in POSTS.items():
        (posts / name).write_text(text, encoding="utf-8")
    config = work / "finews.toml"
    config.write_text(
        CONFIG.format(
            site=SITE, posts=posts, data=work / "data", redis=redis_url, key=KEY, lease=LEASE
        ),
        encoding="utf-8",
    )
    sub = Subscriber()
    callback_app = web.Application()
    callback_app.router.add_get("/cb/snapshot", sub.verify)
    callback_app.router.add_post("/cb/snapshot", sub.deliver)
    runner = web.AppRunner(callback_app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", CALLBACK_PORT).start()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve_log = await asyncio.to_thread(open, work / "serve.log", "wb")
    with serve_log:  # the server writes to its own copy of the file
        server = await asyncio.create_subprocess_exec(
            FINEWS,
            "serve",
            "--config",
            str(config),
            "--port",
            str(port),
            env=clean_env(),
            cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=serve_log,
        )
    auth = {"Authorization": f"Bearer {KEY}"}
    meta: dict[str, Any] = {}
    try:
        async with aiohttp.ClientSession(base) as http:

            async def ready() -> bool:
                try:
                    async with http.get("/feeds/all.atom") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await until(ready, "the first build")

            async def create(**fields: Any) -> dict[str, Any]:
                async with http.post("/api/links", json=fields, headers=auth) as response:
                    assert response.status in (200, 201), await response.text()
                    return await response.json()

            listed = await (await http.get("/api/links", headers=auth)).json()
            by_title = {item["title"]: item for item in listed["links"]}
            post_link = by_title["集美图书馆开放夜间阅览"]
            assert post_link["code"] == LEGACY_CODE, post_link
            metro = by_title["地铁3号线南延段开通"]
            titled = await create(
                url=f"{SITE}/special/flood.html",
                title="防汛专题",
                expires_at="2099-12-31T23:59:59+08:00",
            )
            disabled = await create(url=f"{SITE}/special/old.html")
            async with http.patch(
                f"/api/links/{disabled['code']}", json={"disabled": True}, headers=auth
            ) as response:
                assert response.status == 200, await response.text()
            cli_code, _ = finews(config, "shorten", f"{SITE}/special/cli.html").split()

            visits = [
                (f"/s/{LEGACY_CODE}", WECHAT_UA),
                (f"/s/{LEGACY_CODE}", WECHAT_UA),
                (f"/S/{LEGACY_CODE}", CHROME_UA),
                (f"/s/{LEGACY_CODE}", BOT_UA),
                (f"/html_News/NewsShare.html?infoCode={titled['code']}&from=timeline", WECHAT_UA),
                (f"/S/{titled['code']}", WECHAT_UA),
            ]
            for path, agent in visits:
                async with http.get(
                    path, headers={"User-Agent": agent}, allow_redirects=False
                ) as response:
                    assert response.status == 302, (path, response.status)

            async with http.get(f"/api/links/{LEGACY_CODE}/stats", headers=auth) as response:
                day = (await response.json())["to"]  # today in the site's zone
            stats: dict[str, Any] = {}

            async def counted() -> bool:
                for code in (LEGACY_CODE, titled["code"]):
                    async with http.get(
                        f"/api/links/{code}/stats", headers=auth, params={"from": day, "to": day}
                    ) as response:
                        stats[code] = await response.json()
                return (
                    stats[LEGACY_CODE]["totals"]["clicks"] == 3
                    and stats[LEGACY_CODE]["totals"]["bots"] == 1
                    and stats[titled["code"]]["totals"]["clicks"] == 2
                )

            await until(counted, "the visits to be counted")

            form = {
                "hub.mode": "subscribe",
                "hub.topic": TOPIC,
                "hub.callback": CALLBACK,
                "hub.lease_seconds": str(LEASE),
                "hub.secret": SECRET,
            }
            async with http.post("/websub", data=form) as response:
                assert response.status == 202, await response.text()
            await asyncio.wait_for(sub.verified.wait(), 30)
            plain = redis.Redis.from_url(redis_url, decode_responses=True)

            async def saved() -> bool:
                return bool(plain.keys("{websub}:sub:*"))

            await until(saved, "the subscription")

            (posts / NEW_POST[0]).write_text(NEW_POST[1], encoding="utf-8")

            async def failed_once() -> bool:
                return sub.deliveries >= 1 and any(
                    plain.hget(key, "attempt") not in (None, "0")
                    for key in plain.keys("{websub}:job:*")
                )

            await until(failed_once, "a failed delivery")
            feeds = {}
            for path in (
                "/feeds/all.atom",
                "/feeds/all.rss",
                "/feeds/all.json",
                "/feeds/category/shamenwanbao.rss",
                "/feeds.opml",
            ):
                async with http.get(path, headers={"Accept-Encoding": "identity"}) as response:
                    body = await response.read()
                    feeds[path] = {
                        "status": response.status,
                        "etag": response.headers["ETag"],
                        "sha256": hashlib.sha256(body).hexdigest(),
                    }
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), 60)
        await runner.cleanup()
    assert plain.zcard("{websub}:queue") == 1, "the delivery job must stay queued"
    [job] = [plain.hgetall(key) for key in plain.keys("{websub}:job:*")]
    finews(config, "export", str(EXPORT))
    meta.update(
        site=SITE,
        api_key=KEY,
        day=day,
        callback=CALLBACK,
        topic=TOPIC,
        secret=SECRET,
        links={
            "post": {"code": LEGACY_CODE, "url": post_link["target"]},
            "post_new": {"code": metro["code"], "url": metro["target"]},
            "titled": {
                "code": titled["code"],
                "url": titled["target"],
                "title": titled["title"],
                "expires_at": titled["expires_at"],
            },
            "disabled": {"code": disabled["code"], "url": disabled["target"]},
            "cli": {"code": cli_code, "url": f"{SITE}/special/cli.html"},
        },
        stats=stats,
        feeds=feeds,
        delivery={"sha256": job["content"], "content_type": job["content_type"]},
    )
    plain.close()
    return meta


def dump_keys(redis_url: str) -> list[dict[str, Any]]:
    """Every key as DUMP (base64) and PTTL, in key order."""
    client = redis.Redis.from_url(redis_url)
    rows = []
    for key in sorted(client.scan_iter(count=1000)):
        payload, ttl, kind = client.dump(key), client.pttl(key), client.type(key)
        if payload is None:
            continue
        rows.append(
            {
                "key": key.decode(),
                "type": kind.decode(),
                "pttl": ttl,
                "dump": base64.b64encode(payload).decode(),
            }
        )
    client.close()
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="finews-snapshot-") as tmp:
        work = Path(tmp)
        server = EmbeddedRedis(work / "redis")
        server.start()
        try:
            meta = asyncio.run(make(work, server.url))
            info = redis.Redis.from_url(server.url).info("server")
            meta["server"] = {"version": info.get("valkey_version") or info["redis_version"]}
            snapshot = {
                "format": "finews redis snapshot v1",
                "meta": meta,
                "keys": dump_keys(server.url),
            }
        finally:
            server.stop()
    SNAPSHOT.write_text(json.dumps(snapshot, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(
        f"wrote {SNAPSHOT} ({SNAPSHOT.stat().st_size} bytes, {len(snapshot['keys'])} keys) "
        f"and {EXPORT}"
    )


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
