"""The data of the release before moves to today's key names once, whoever starts first.

Each test restores the v1 snapshot (tests/data/redis_snapshot_v1.json, written by the old
code) and runs the migration as a starting process does: through `finews.migrate.migrate`,
the app's start or both at once, on one server and on a three-node cluster.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from redis.cluster import RedisCluster

import shortlinks.migrate
from feeds import keys as feed_keys
from finews.app import create_app
from finews.core.redis_client import connect
from finews.core.settings import Settings
from finews.migrate import SCHEMA, SCHEMA_KEY, migrate
from shortlinks import keys as link_keys
from tests.root.test_snapshot import AUTH, META, SNAPSHOT, restore
from websub import keys as hub_keys


def renamed(old: str) -> str | None:
    """Where the migration must put a key of the snapshot (None: deleted)."""
    if old.startswith("sl:"):
        return link_keys.renamed(old)
    if old.startswith("{websub}:"):
        return hub_keys.renamed(old)
    return feed_keys.renamed(old)


MOVES = {row["key"]: renamed(row["key"]) for row in SNAPSHOT["keys"]}
# Keys moved byte for byte: all but the stats hashes, whose per-day fields a later step
# moves to day hashes (tests/shortlinks/test_day_buckets.py and test_snapshot.py check
# those counts).
WHOLE = {old: new for old, new in MOVES.items() if new and not new.endswith(":stats")}
# Keys the migration moves or deletes: everything but the feed documents and version.
CHANGED = {old: new for old, new in MOVES.items() if new != old}
KEPT = {old for old, new in MOVES.items() if new == old}


def names(url: str) -> set[str]:
    """The keys on the server, less those the shortlinks migration adds after the moves
    (day hashes, bucket indexes, list indexes)."""
    client = redis.Redis.from_url(url, decode_responses=True)
    found = set(client.scan_iter(match="*"))
    client.close()
    lists = {link_keys.CREATED, link_keys.SEARCH, link_keys.CLICKS}
    return {k for k in found if ":day:" not in k and not k.endswith(":buckets")} - lists


def dumps(client: redis.Redis | RedisCluster, keys: list[str]) -> dict[str, bytes | None]:
    return {key: client.dump(key) for key in keys}


def migrated(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if "event=redis_migrated" in r.getMessage()]


def test_the_snapshot_has_every_kind_of_key_to_move() -> None:
    """The tests below prove something only if the v1 data holds each kind of key."""
    kinds = {old.split(":")[1] for old in CHANGED if not old.startswith("finews:")}
    assert {"index", "link", "url", "stats", "uv", "seen", "salt", "rl"} <= kinds
    assert {"sub", "topic", "host", "job", "content", "queue"} <= kinds
    assert feed_keys.LEGACY_ETAGS in CHANGED
    assert any(row["pttl"] > 0 for row in SNAPSHOT["keys"] if row["key"] in CHANGED)


async def test_migration_runs_once_and_moves_every_key(redis_url: str, caplog) -> None:
    restore(redis_url)
    before = dumps(redis.Redis.from_url(redis_url), list(MOVES))
    caplog.set_level(logging.INFO, logger="finews.redis")
    client = await connect(redis_url)
    try:
        assert await migrate(client) == len(CHANGED)
        [line] = migrated(caplog.records)
        assert f"keys={len(CHANGED)} " in line and "seconds=" in line
        assert await client.get(SCHEMA_KEY) == str(SCHEMA)
        raw = redis.Redis.from_url(redis_url)
        after = dumps(raw, [new for new in MOVES.values() if new])
        assert {new: after[new] for new in WHOLE.values()} == {
            new: before[old] for old, new in WHOLE.items()
        }
        assert names(redis_url) == {new for new in MOVES.values() if new} | {SCHEMA_KEY}

        caplog.clear()
        assert await migrate(client) == 0  # the second start
        assert migrated(caplog.records) == []
        assert dumps(raw, list(after)) == after
        raw.close()
    finally:
        await client.aclose()


async def test_time_to_live_is_kept(redis_url: str) -> None:
    restore(redis_url)
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    ttls = {old: raw.pttl(old) for old in CHANGED}
    client = await connect(redis_url)
    await migrate(client)
    await client.aclose()
    for old, new in CHANGED.items():
        if new is None:
            continue
        ttl = raw.pttl(new)
        if ttls[old] == -1:
            assert (new, ttl) == (new, -1)
        else:
            assert 0 < ttl <= ttls[old], new
    assert sum(ttls[old] > 0 for old, new in CHANGED.items() if new) >= 5
    raw.close()


async def test_two_processes_starting_at_once_move_each_key_once(redis_url: str, caplog) -> None:
    restore(redis_url)
    before = dumps(redis.Redis.from_url(redis_url), list(MOVES))
    caplog.set_level(logging.INFO, logger="finews.redis")
    clients = [await connect(redis_url) for _ in range(2)]
    try:
        moved = await asyncio.gather(*(migrate(c) for c in clients))
    finally:
        for c in clients:
            await c.aclose()
    assert sorted(moved) == [0, len(CHANGED)]  # one did the work, the other waited
    assert len(migrated(caplog.records)) == 1
    raw = redis.Redis.from_url(redis_url)
    assert {new: raw.dump(new) for new in WHOLE.values()} == {
        new: before[old] for old, new in WHOLE.items()
    }
    raw.close()


async def test_moves_racing_without_the_lock_lose_and_double_nothing(redis_url: str) -> None:
    """Each step is safe to repeat: should the lock's holder stall past its expiry, a
    second migration over the same keys moves each key once and overwrites nothing."""
    restore(redis_url)
    links = [old for old in CHANGED if old.startswith("sl:")]
    before = dumps(redis.Redis.from_url(redis_url), links)
    clients = [await connect(redis_url) for _ in range(3)]
    try:
        moved = await asyncio.gather(*(shortlinks.migrate.migrate(c) for c in clients))
    finally:
        for c in clients:
            await c.aclose()
    assert sum(moved) == len(links)
    raw = redis.Redis.from_url(redis_url)
    assert {WHOLE[old]: raw.dump(WHOLE[old]) for old in links if old in WHOLE} == {
        WHOLE[old]: before[old] for old in links if old in WHOLE
    }
    assert not list(raw.scan_iter(match=link_keys.LEGACY))
    raw.close()


async def test_a_key_already_under_its_new_name_is_never_overwritten(
    redis_url: str, caplog
) -> None:
    restore(redis_url)
    code = META["links"]["post"]["code"]
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    raw.set(link_keys.link(code), "written after the start")
    client = await connect(redis_url)
    await migrate(client)
    await client.aclose()
    assert raw.get(link_keys.link(code)) == "written after the start"
    old = next(old for old, new in CHANGED.items() if new == link_keys.link(code))
    assert raw.exists(old)  # kept for an operator
    assert any(
        "event=redis_migrate_conflict" in r.getMessage() and old in r.getMessage()
        for r in caplog.records
    )
    raw.close()


def restore_into_cluster(url: str) -> None:
    cluster = RedisCluster.from_url(url)
    for row in SNAPSHOT["keys"]:
        cluster.restore(row["key"], max(row["pttl"], 0), base64.b64decode(row["dump"]))
    cluster.close()


async def test_migration_on_a_cluster(
    aiohttp_client: Callable[..., Any],
    cluster_url: str,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    caplog,
) -> None:
    """Old and new names in one slot are renamed; in different slots (the codes set, the
    salts, the queue, job bytes) copied with their time to live; the links then work."""
    restore_into_cluster(cluster_url)
    cluster = RedisCluster.from_url(cluster_url)
    before = dumps(cluster, list(MOVES))
    ttls = {old: cluster.pttl(old) for old in CHANGED}
    caplog.set_level(logging.INFO, logger="finews.redis")
    (tmp_path / "no-posts").mkdir()
    settings = make_settings(
        redis__url=cluster_url,
        site__url=META["site"],
        api__keys=[META["api_key"]],
        posts__dir=str(tmp_path / "no-posts"),
        feeds__role="follower",
        websub__enabled=False,
        feeds__hub="",
    )
    client = await aiohttp_client(create_app(settings))
    assert len(migrated(caplog.records)) == 1
    assert {new: cluster.dump(new) for new in WHOLE.values()} == {
        new: before[old] for old, new in WHOLE.items()
    }
    assert not [old for old in CHANGED if cluster.exists(old)]
    for old, new in CHANGED.items():
        if new and ttls[old] > 0:
            assert 0 < cluster.pttl(new) <= ttls[old], new
    cluster.close()
    for link in ("post", "titled", "cli"):
        response = await client.get(f"/s/{META['links'][link]['code']}", allow_redirects=False)
        assert response.headers["Location"] == META["links"][link]["url"]
    listed = await (await client.get("/api/links?limit=100", headers=AUTH)).json()
    assert {link["code"] for link in listed["links"]} >= {
        link["code"] for link in META["links"].values()
    }
