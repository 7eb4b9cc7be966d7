"""Share links in the site's infoCode style: codes, store, redirects."""

from shortlinks.routes import setup

__all__ = ["setup"]
