"""Posts in, RSS 2.0 / Atom 1.0 / JSON Feed 1.1 out."""

from feeds.routes import publish, setup

__all__ = ["publish", "setup"]
