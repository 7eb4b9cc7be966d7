"""WebSub: a built-in hub at /websub and publish pings to external hubs.

finews calls `setup(app)` once, and `notify(app, topic, body, content_type)` whenever a
feed document's bytes change; `subscriber_counts(app, topics)` tells operators how many
subscribers each feed has.
"""

from collections.abc import Iterable

from aiohttp import web

from websub.hub import hub_urls
from websub.routes import HUB, setup


async def notify(app: web.Application, topic_url: str, body: bytes, content_type: str) -> None:
    """Queue deliveries to the topic's subscribers and pings to external hubs; returns at once."""
    await app[HUB].notify(topic_url, body, content_type)


async def subscriber_counts(app: web.Application, topics: Iterable[str]) -> dict[str, int]:
    """Topic URL (absolute, e.g. https://news.example.cn/feeds/all.rss) -> the number of
    verified subscribers whose lease still runs; intents awaiting verification not counted."""
    return await app[HUB].store.counts(topics)


__all__ = ["hub_urls", "notify", "setup", "subscriber_counts"]
