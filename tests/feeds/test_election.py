"""Builder election between real `finews serve` processes on one Redis (feeds/lease.py).

Exactly one builds; a builder paused past its lease (SIGSTOP) is replaced and, resumed,
never overwrites the new builder's edition; a killed builder is replaced within the lease
time, and the new builder publishes what changed on disk meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from feeds import keys
from feeds.lease import Lease, stop_if_cancelled
from feeds.store import Document, DocumentStore, Fenced
from finews.core.redis_client import connect
from tests.conftest import SAMPLE_POSTS
from tests.serving import Serve, until, write_post

LEASE = "1"  # seconds: short, so that a take-over happens within the test's patience


@pytest.fixture
def posts(tmp_path: Path) -> Path:
    target = tmp_path / "posts"
    shutil.copytree(SAMPLE_POSTS, target)
    return target


@pytest.fixture
def pair(tmp_path: Path, posts: Path, redis_url: str) -> Iterator[tuple[Serve, Serve]]:
    settings = {
        "redis__url": redis_url,
        "posts__dir": str(posts),
        "feeds__lease_seconds": LEASE,
        "feeds__watch_debounce": "50",
    }
    first = Serve(tmp_path, "first", **settings)
    second = None
    try:
        second = Serve(tmp_path, "second", **settings)
        yield first, second
    finally:
        for process in (first, second):
            if process is not None:
                process.stop()


def serves(process: Serve, title: str) -> bool:
    answer = process.get("/feeds/all.json")
    return answer is not None and answer[0] == 200 and title.encode() in answer[1]


def stored(redis_url: str, title: str) -> bool:
    """The feed of all posts in Redis lists `title`."""
    client = redis.Redis.from_url(redis_url)
    try:
        body = client.hget(keys.doc("/feeds/all.json"), "body") or b"{}"
    finally:
        client.close()
    return title in body.decode()


def test_one_builder_is_elected_and_a_paused_one_never_overwrites_its_successor(
    pair: tuple[Serve, Serve], posts: Path, redis_url: str
) -> None:
    until(lambda: {p.builds() for p in pair} == {True, False}, "exactly one builder")
    old, new = pair if pair[0].builds() else pair[::-1]
    assert old.logged("event=feeds_role role=builder epoch=")
    assert new.logged("event=feeds_role role=follower")

    old.signal(signal.SIGSTOP)
    write_post(posts, 1, "暂停期间的新文章")
    until(lambda: new.builds() is True, "the follower takes the lease")
    until(lambda: serves(new, "暂停期间的新文章"), "the new builder loads the posts afresh")
    write_post(posts, 2, "第二篇新文章")  # the paused builder's watcher sees it on waking
    until(lambda: stored(redis_url, "第二篇新文章"), "the new builder stores it")
    resumed_at = old.log_size()
    old.signal(signal.SIGCONT)

    until(lambda: old.builds() is False, "the resumed builder steps down")
    until(lambda: serves(old, "第二篇新文章"), "the resumed builder follows the new one")
    assert not old.logged("event=feeds_stored", since=resumed_at)
    assert new.builds() is True
    assert stored(redis_url, "第二篇新文章") and stored(redis_url, "暂停期间的新文章")


def test_a_killed_builder_is_replaced_and_changes_made_meanwhile_are_published(
    pair: tuple[Serve, Serve], posts: Path
) -> None:
    until(lambda: {p.builds() for p in pair} == {True, False}, "exactly one builder")
    dead, heir = pair if pair[0].builds() else pair[::-1]
    dead.signal(signal.SIGKILL)
    write_post(posts, 3, "接任期间的新文章")
    until(lambda: heir.builds() is True, "the follower takes over within the lease time")
    until(lambda: serves(heir, "接任期间的新文章"), "the change made meanwhile is published")
    assert heir.logged("event=feeds_role role=builder epoch=2")


async def test_a_store_under_an_old_epoch_is_refused_and_changes_nothing(redis_url: str) -> None:
    """The fence itself: a builder whose renewal has not yet noticed the take-over (it
    stores first) writes nothing."""
    client = await connect(redis_url, decode_responses=False)
    try:
        old, new = Lease(client, 5), Lease(client, 5)
        old_epoch = await old.acquire()
        assert old_epoch == 1 and await new.acquire() is None
        await client.delete(keys.LEASE)  # the old holder's lease expired while it was paused
        new_epoch = await new.acquire()
        assert new_epoch == 2
        store = DocumentStore(client)
        mine = {"/feeds/all.json": Document.build(b'{"new": 1}', "application/json", modified=1)}
        version = await store.save(mine, list(mine), [], epoch=new_epoch)
        stale = {"/feeds/all.json": Document.build(b'{"old": 1}', "application/json", modified=2)}
        with pytest.raises(Fenced):
            await store.save(stale, list(stale), ["/feeds/gone.json"], epoch=old_epoch)
        assert await store.snapshot() == (
            version,
            {"/feeds/all.json": mine["/feeds/all.json"].etag},
        )
        assert (await store.documents(["/feeds/all.json"]))["/feeds/all.json"].body == b'{"new": 1}'
        assert not await old.renew() and await new.renew()
    finally:
        await client.aclose()


async def test_a_cancel_swallowed_below_the_election_still_stops_its_loop() -> None:
    """A library that eats our CancelledError (as a Redis call racing its own timeout can)
    must not keep the election looping: the shutdown waits for it."""
    turns = 0

    async def loop_like_the_election() -> None:
        nonlocal turns
        while turns < 100:  # bounded: without the check the test ends, failing, not hangs
            stop_if_cancelled()
            turns += 1
            with contextlib.suppress(asyncio.CancelledError):  # as a careless library would
                await asyncio.sleep(0.01)

    task = asyncio.create_task(loop_like_the_election())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert turns < 100
