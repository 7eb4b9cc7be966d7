"""`finews shorten`, `export`, `import` and `check` as a user runs them, on a real Redis."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis as syncredis

from finews.app import create_app
from finews.core.settings import Settings
from finews.embedded_redis import EmbeddedRedis, ping
from shortlinks import keys
from tests.envs import clean_env
from tests.shortlinks_support import (
    ARTICLE,
    CHROME_UA,
    SITE,
    WECHAT_UA,
    create,
    service,
)


def finews(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = clean_env()
    return subprocess.run(
        [sys.executable, "-m", "finews", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, "FINEWS_SITE__URL": SITE, **env},
    )


def test_shorten_prints_code_and_share_url_once_per_url(redis_url: str) -> None:
    env = {"FINEWS_REDIS__URL": redis_url}
    first = finews("shorten", ARTICLE, "--date", "2022-05-24", "--prefix", "XM", env=env)
    assert first.returncode == 0, first.stderr
    code, url = first.stdout.split()
    assert code.startswith("XM20220524") and len(code) == 20
    assert url == f"{SITE}/html_News/NewsShare.html?infoCode={code}"
    again = finews("shorten", ARTICLE, env=env)
    assert again.stdout.split() == [code, url]
    bad = finews("shorten", "https://evil.example/x", env=env)
    assert bad.returncode == 1 and "(rule: host)" in bad.stderr
    bad = finews("shorten", ARTICLE, "--prefix", "x1", env=env)
    assert bad.returncode == 2 and "uppercase" in bad.stderr


def test_shorten_starts_and_stops_the_embedded_server(tmp_path: Path) -> None:
    env = {"FINEWS_REDIS__URL": "", "FINEWS_DATA__DIR": str(tmp_path / "data")}
    first = finews("shorten", ARTICLE, env=env)
    assert first.returncode == 0, first.stderr
    assert "event=redis_spawn" in first.stderr and "event=redis_stop" in first.stderr
    assert not ping(EmbeddedRedis(tmp_path / "data").socket_path)  # stopped with the command
    second = finews("shorten", ARTICLE, env=env)  # the append-only file kept the link
    assert second.stdout == first.stdout


def test_shorten_uses_a_running_server_on_the_same_data_dir(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "data")
    server.start()
    try:
        env = {"FINEWS_REDIS__URL": "", "FINEWS_DATA__DIR": str(tmp_path / "data")}
        result = finews("shorten", ARTICLE, env=env)
        assert result.returncode == 0, result.stderr
        assert server.running()
        live = syncredis.Redis.from_url(server.url, decode_responses=True)
        assert live.get(keys.url(ARTICLE)) == result.stdout.split()[0]
        live.close()
    finally:
        server.stop()


async def test_export_import_round_trip_is_exact_and_idempotent(
    aiohttp_client: Callable[..., Any], sl_settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    client = await aiohttp_client(create_app(sl_settings))
    codes = [(await create(client, f"{SITE}/{n}.html", title=f"标题{n}"))["code"] for n in range(7)]
    await client.patch(
        f"/api/links/{codes[1]}",
        json={"disabled": True},
        headers={"Authorization": f"Bearer {sl_settings.api.keys[0]}"},
    )
    for n, agent in enumerate((WECHAT_UA, CHROME_UA, "Twitterbot/1.0")):
        await client.get(
            f"/s/{codes[0]}?from=singlemessage",
            allow_redirects=False,
            headers={"User-Agent": agent, "X-Forwarded-For": f"10.0.0.{n}"},
        )
    await service(client).writer.flush()
    await client.close()
    env = {"FINEWS_REDIS__URL": redis_url}
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    result = finews("export", str(first), env=env)
    assert result.returncode == 0 and "exported: 7 links" in result.stdout
    lines = [json.loads(line) for line in first.read_text(encoding="utf-8").splitlines()]
    assert [line["code"] for line in lines] == sorted(codes)
    head = next(line for line in lines if line["code"] == codes[0])
    assert head["stats"] == {"h": 2, "u": 2, "b": 1}
    [(day, bucket)] = head["days"].items()
    assert bucket["counts"]["h"] == 2 and bucket["agents"] and bucket["visitors"]
    assert head["hours"] and head["expire_at"][f"day:{day}"] > time.time()

    raw = syncredis.Redis.from_url(redis_url)
    # not carried: markers, the site's events and source totals (its clicks index and
    # hourly leaderboards are rebuilt)
    transient = re.compile(rb".*:(seen|salt|rl|done|srcn):.*|.*\{site\}:(?!clicks|top:).*")
    before = {
        k: raw.dump(k)
        for k in raw.scan_iter(match=f"{keys.PREFIX}:*")
        if not transient.fullmatch(k)
    }
    raw.flushdb()
    for _ in range(2):  # importing twice changes nothing
        result = finews("import", str(first), env=env)
        assert result.returncode == 0, result.stderr
        assert "imported: 7 links, skipped: 0 lines" in result.stdout
    after = {k: raw.dump(k) for k in raw.scan_iter(match=f"{keys.PREFIX}:*")}
    assert {k: raw.type(k) for k in after} == {k: raw.type(k) for k in before}
    assert raw.pfcount(keys.visitors(codes[0], day)) == 2
    raw.close()
    finews("export", str(second), env=env)
    assert second.read_bytes() == first.read_bytes()


def test_import_reports_bad_lines_by_number_and_keeps_the_rest(
    redis_url: str, tmp_path: Path
) -> None:
    good = {
        "code": "NW202205242389705455",
        "url": ARTICLE,
        "title": "",
        "disabled": False,
        "created_at": "2022-05-24T10:00:00+08:00",
        "expires_at": None,
        "origin": "post",
        "primary": True,
        "stats": {"h": 1, "20220524:h": 1},
        "visitors": {},
    }
    lines = [
        json.dumps(good),
        "{broken",
        json.dumps({**good, "code": "NW202202302389705455"}),
        json.dumps({**good, "code": "NW202205241111111111", "url": "https://evil.example/"}),
        json.dumps({**good, "code": "NW202205242222222222", "stats": {"h": -1}}),
        json.dumps({**good, "code": "NW202205243333333333", "visitors": {"20220524": "eA=="}}),
        "",
        json.dumps({**good, "url": f"{SITE}/else.html"}),
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = finews("import", str(path), env={"FINEWS_REDIS__URL": redis_url})
    assert result.returncode == 1
    assert "imported: 1 links, skipped: 6 lines" in result.stdout
    reported = [
        line.split(":")[0] for line in result.stderr.splitlines() if line.startswith("line ")
    ]
    assert reported == ["line 2", "line 3", "line 4", "line 5", "line 6", "line 8"]
    assert "not a real date" in result.stderr and "(host)" in result.stderr
    assert "already links to another url" in result.stderr
    raw = syncredis.Redis.from_url(redis_url, decode_responses=True)
    assert raw.zrange(keys.CODES, 0, -1) == ["NW202205242389705455"]
    raw.close()
    missing = finews("import", str(tmp_path / "nope.jsonl"), env={"FINEWS_REDIS__URL": redis_url})
    assert missing.returncode == 1 and "nope.jsonl" in missing.stderr
    assert "Traceback" not in missing.stderr
    down = finews("shorten", ARTICLE, env={"FINEWS_REDIS__URL": f"unix://{tmp_path}/none.sock"})
    assert down.returncode == 1 and down.stderr.strip().splitlines()[-1].startswith(
        "finews: ConnectionError"
    )


def test_check_reports_a_legacy_code_claimed_twice(tmp_path: Path) -> None:
    posts = tmp_path / "posts"
    posts.mkdir()
    for name, day in (("a.md", "2022-06-10"), ("b.md", "2022-06-11")):
        (posts / name).write_text(
            f'---\ntitle: "{name}"\ndate: {day} 08:00:00 +0800\n'
            "infoCode: NW202206107720481936\n---\nbody\n",
            encoding="utf-8",
        )
    result = finews("check", env={"FINEWS_POSTS__DIR": str(posts)})
    assert result.returncode == 1
    assert (
        "problem: infoCode NW202206107720481936 is claimed by a.md and b.md; a.md keeps it"
        in result.stdout
    )
