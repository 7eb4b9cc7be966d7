"""Share links in the site's infoCode style: codes, store, redirects, counts, QR, API."""

from shortlinks.routes import setup
from shortlinks.share import SharedPost, code_conflicts, post_share_links

__all__ = ["SharedPost", "code_conflicts", "post_share_links", "setup"]
