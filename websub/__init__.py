"""WebSub: a built-in hub at /websub and publish pings to external hubs.

finews calls `setup(app)` once, and `notify(app, topic, body, content_type)` whenever a
feed document's bytes change.
"""

from aiohttp import web

from websub.hub import hub_urls
from websub.routes import HUB, setup


async def notify(app: web.Application, topic_url: str, body: bytes, content_type: str) -> None:
    """Queue deliveries to the topic's subscribers and pings to external hubs; returns at once."""
    await app[HUB].notify(topic_url, body, content_type)


__all__ = ["hub_urls", "notify", "setup"]
