"""Which URLs a share link may send people to: absolute http(s) on allowed hosts only.

Checked when a link is created or retargeted, and again before every redirect, so a target
that reached Redis some other way (an import, a hand edit) still never leaves the site.
Each failure names its rule, so an API client learns exactly what to fix.

A target is normalised (RFC 3986 section 6.2.2, plus the scheme's default port and IDNA)
before any rule looks at it, and stored normalised: `/%73/CODE` is `/s/CODE`, so it is
refused as a loop, and two spellings of one URL get one link.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from urllib.parse import quote, urlsplit, urlunsplit

import idna

from shortlinks.paths import SHARE_PATHS

MAX_BYTES = 2048
CONTROL_RE = re.compile(r"[\x00-\x20\x7f-\x9f]")
PERCENT_RE = re.compile(r"%([0-9A-Fa-f]{2})")
BAD_PERCENT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
DEFAULT_PORTS = {"http": 80, "https": 443}


class TargetError(ValueError):
    """A target that breaks a rule; `rule` is a stable name for clients."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


def _host(host: str) -> str:
    """The host lower-case, an international name in its ASCII (IDNA) form."""
    host = host.lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        return f"[{host}]"
    if host.isascii():
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise TargetError("host", f"host {host!r} is not a valid domain name: {exc}") from None


def netloc(host: str, port: int | None, scheme: str) -> str:
    """`host` or `host:port`, lower-case, without the scheme's default port."""
    host = _host(host)
    return host if port in (None, DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"


def _escapes(text: str) -> str:
    """Percent escapes of unreserved characters decoded, the others upper-case; a `%`
    that starts no escape is a literal percent sign, `%25`."""

    def one(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in UNRESERVED else "%" + match.group(1).upper()

    return PERCENT_RE.sub(one, BAD_PERCENT_RE.sub("%25", text))


def _remove_dot_segments(path: str) -> str:
    """`.` and `..` segments resolved as RFC 3986 section 5.2.4 does (`path` starts with /)."""
    out: list[str] = []
    segments = path.split("/")
    for n, segment in enumerate(segments):
        if segment in (".", ".."):
            if segment == ".." and len(out) > 1:
                out.pop()
            if n == len(segments) - 1:
                out.append("")
        else:
            out.append(segment)
    return "/".join(out) or "/"


def allowed_hosts(site_url: str, extra: Iterable[str]) -> frozenset[str]:
    """The site's own host plus the hosts settings add (`host` or `host:port`)."""
    site = urlsplit(site_url)
    return frozenset(
        {
            netloc(site.hostname or "", site.port, site.scheme),
            *(h.strip().lower() for h in extra if h.strip()),
        }
    )


def check(url: object, hosts: frozenset[str]) -> str:
    """The target normalised (scheme and host lower-case, IDNA host, no default port,
    unreserved escapes decoded and the others upper-case, a stray `%` as `%25`, no dot
    segments, empty path `/`), or TargetError naming the first rule it breaks."""
    if not isinstance(url, str) or not url:
        raise TargetError("url", "url must be a non-empty string")
    try:
        size = len(url.encode("utf-8"))
    except UnicodeEncodeError:
        raise TargetError("unicode", "url holds a lone surrogate, not a character") from None
    if size > MAX_BYTES:
        raise TargetError("length", f"url is longer than {MAX_BYTES} bytes")
    if CONTROL_RE.search(url):
        raise TargetError("control_characters", "url contains control characters or spaces")
    if "\\" in url:
        raise TargetError("backslash", "url contains a backslash")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed [IPv6 literal
        raise TargetError("host", f"url has an invalid host: {exc}") from None
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
        raise TargetError(
            "host", f"host {location!r} is not allowed; allowed: {', '.join(sorted(hosts))}"
        )
    path = _remove_dot_segments(_escapes(parts.path) or "/")
    if path.startswith(SHARE_PATHS):
        raise TargetError("loop", "url is itself a share link")
    normal = urlunsplit((scheme, location, path, _escapes(parts.query), _escapes(parts.fragment)))
    if len(normal.encode("utf-8")) > MAX_BYTES:
        raise TargetError("length", f"url is longer than {MAX_BYTES} bytes once normalised")
    return normal


def location_header(url: str) -> str:
    """The target as an ASCII Location value: non-ASCII percent-encoded, escapes kept."""
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~")
