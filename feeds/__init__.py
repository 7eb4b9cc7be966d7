"""Posts in, RSS 2.0 / Atom 1.0 / JSON Feed 1.1 out."""

from aiohttp import web

from feeds import api, routes
from feeds.api import Subscribers
from feeds.publish import OnChange, ShareLinks
from feeds.routes import publish


def setup(
    app: web.Application,
    *,
    share_links: ShareLinks | None = None,
    on_change: OnChange | None = None,
    subscribers: Subscribers | None = None,
) -> None:
    """The feed routes (feeds/routes.py: `share_links`, `on_change`) and GET /api/feeds
    (feeds/api.py: `subscribers` counts each feed's WebSub subscribers)."""
    routes.setup(app, share_links=share_links, on_change=on_change)
    api.setup(app, subscribers)


__all__ = ["publish", "setup"]
