"""Which URLs a share link may send people to: absolute http(s) on allowed hosts only.

Checked when a link is created or retargeted, and again before every redirect, so a target
that reached Redis some other way (an import, a hand edit) still never leaves the site.
Each failure names its rule, so an API client learns exactly what to fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, urlsplit, urlunsplit

MAX_BYTES = 2048
CONTROL_RE = re.compile(r"[\x00-\x20\x7f-\x9f]")
DEFAULT_PORTS = {"http": 80, "https": 443}
SHARE_PATHS = ("/s/", "/S/", "/html_News/NewsShare.html")


class TargetError(ValueError):
    """A target that breaks a rule; `rule` is a stable name for clients."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


def netloc(host: str, port: int | None, scheme: str) -> str:
    """`host` or `host:port`, lower-case, without the scheme's default port."""
    host = host.lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    return host if port in (None, DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"


def allowed_hosts(site_url: str, extra: Iterable[str]) -> frozenset[str]:
    """The site's own host plus the hosts settings add (`host` or `host:port`)."""
    site = urlsplit(site_url)
    return frozenset({netloc(site.hostname or "", site.port, site.scheme),
                      *(h.strip().lower() for h in extra if h.strip())})


def check(url: object, hosts: frozenset[str]) -> str:
    """The target in canonical form (scheme and host lower-case, no default port), or
    TargetError naming the first rule it breaks."""
    if not isinstance(url, str) or not url:
        raise TargetError("url", "url must be a non-empty string")
    if len(url.encode("utf-8")) > MAX_BYTES:
        raise TargetError("length", f"url is longer than {MAX_BYTES} bytes")
    if CONTROL_RE.search(url):
        raise TargetError("control_characters", "url contains control characters or spaces")
    if "\\" in url:
        raise TargetError("backslash", "url contains a backslash")
    parts = urlsplit(url)
    if parts.scheme.lower() not in DEFAULT_PORTS:
        raise TargetError("scheme", "url must start with http:// or https://")
    if not url.lower().startswith(parts.scheme.lower() + "://") or not parts.hostname:
        raise TargetError("absolute", "url must be absolute: scheme://host/path")
    if "@" in parts.netloc:
        raise TargetError("userinfo", "url must not contain user:password@")
    try:
        port = parts.port
    except ValueError:
        raise TargetError("host", "url has an invalid port") from None
    scheme = parts.scheme.lower()
    location = netloc(parts.hostname, port, scheme)
    if location not in hosts:
        raise TargetError("host", f"host {location!r} is not allowed; allowed: "
                                  f"{', '.join(sorted(hosts))}")
    if parts.path.startswith(SHARE_PATHS):
        raise TargetError("loop", "url is itself a share link")
    return urlunsplit((scheme, location, parts.path or "/", parts.query, parts.fragment))


def location_header(url: str) -> str:
    """The target as an ASCII Location value: non-ASCII percent-encoded, escapes kept."""
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~")
