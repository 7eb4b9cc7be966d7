"""Post bodies (HTML mixed with Markdown) to HTML that every feed reader can show safely.

markdown-it-py turns CommonMark into HTML with raw HTML passed through (the posts are mostly `<p>`
blocks plus Markdown links); nh3 (ammonia) then keeps only article markup, and its attribute
callback makes every URL absolute: feed readers and RSS-to-email services resolve relative
URLs against the feed, not the article, so `src="a.png"` or `//host/a.png` would break.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import nh3
from markdown_it import MarkdownIt

from feeds.text import one_line, xml_safe

MARKDOWN = MarkdownIt("commonmark", {"html": True})

TAGS = set(nh3.ALLOWED_TAGS) - {"map", "area"}
ATTRIBUTES = {tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items() if tag in TAGS}
ATTRIBUTES["a"] = {"href", "hreflang", "title"}
ATTRIBUTES["img"] = {"src", "srcset", "alt", "title", "width", "height"}
ATTRIBUTES["abbr"] = {"title"}
# Dropped together with everything inside them (not only the tag).
DROP_WITH_CONTENT = {
    "script",
    "style",
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "template",
    "noscript",
    "svg",
    "math",
    "textarea",
    "select",
    "title",
    "head",
}
# `data:` passes nh3 only to reach the callback, which keeps it for raster <img src> alone.
URL_SCHEMES = {"http", "https", "mailto", "tel", "data"}
_LINK_SCHEMES = {"http", "https", "mailto", "tel"}
_DATA_IMAGE = re.compile(r"data:image/(?:png|jpeg|gif|webp|avif)[;,]", re.I)
_URL_ATTRIBUTES = {"href", "src", "cite"}
# Characters left as they are when a URL is percent-encoded (RFC 3986 reserved and `%`).
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_NOT_URI = re.compile(r"[^A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]")


def uri(url: str) -> str:
    """An IRI as a URI: non-ASCII and spaces percent-encoded (UTF-8), host in IDNA."""
    if not _NOT_URI.search(url):
        return _STRAY_PERCENT.sub("%25", url)
    parts = urlsplit(url)
    netloc = parts.netloc
    if not netloc.isascii():
        userinfo, at, host = netloc.rpartition("@")
        netloc = userinfo + at + host.encode("idna").decode("ascii")
    encoded = [
        quote(_STRAY_PERCENT.sub("%25", part), safe=_URL_SAFE)
        for part in (parts.path, parts.query, parts.fragment)
    ]
    return urlunsplit((parts.scheme, netloc, *encoded))


def absolute_url(value: str, base: str, *, data_image: bool = False) -> str | None:
    """`value` resolved against `base` (`//host/x` takes base's scheme) as a URI.

    None for what a feed must not carry: other schemes than http(s), mailto and tel, and
    `data:` except raster images when `data_image` is set.
    """
    value = value.strip()
    if not value:
        return None
    if value[:5].lower() == "data:":
        return value if data_image and _DATA_IMAGE.match(value) else None
    try:
        url = uri(urljoin(base, value))
    except (ValueError, UnicodeError):  # a broken IPv6 literal, an unencodable host
        return None
    return url if urlsplit(url).scheme.lower() in _LINK_SCHEMES else None


def _absolute_srcset(value: str, base: str) -> str | None:
    """Each `url [descriptor]` candidate of a srcset made absolute; bad ones dropped."""
    candidates = []
    for candidate in value.split(","):
        url, _, descriptor = candidate.strip().partition(" ")
        absolute = absolute_url(url, base, data_image=True) if url else None
        if absolute:
            candidates.append(f"{absolute} {descriptor.strip()}".strip())
    return ", ".join(candidates) or None


def _url_filter(base: str) -> Callable[[str, str, str], str | None]:
    def rewrite(tag: str, attribute: str, value: str) -> str | None:
        if attribute in _URL_ATTRIBUTES:
            return absolute_url(value, base, data_image=(tag, attribute) == ("img", "src"))
        if attribute == "srcset":
            return _absolute_srcset(value, base)
        return value

    return rewrite


def sanitize_body(body: str, base_url: str) -> str:
    """Sanitized, XML-safe HTML of a post body; relative URLs resolved against `base_url`."""
    cleaned = nh3.clean(
        MARKDOWN.render(body),
        tags=TAGS,
        attributes=ATTRIBUTES,
        clean_content_tags=DROP_WITH_CONTENT,
        url_schemes=URL_SCHEMES,
        link_rel=None,
        attribute_filter=_url_filter(base_url),
    )
    return xml_safe(cleaned)


def plain_text(fragment: str) -> str:
    """Text of an HTML-ish fragment (a title, an excerpt): tags gone, entities decoded, one line."""
    if "<" in fragment or "&" in fragment:
        fragment = html.unescape(
            nh3.clean(fragment, tags=set(), clean_content_tags=DROP_WITH_CONTENT)
        )
    return one_line(xml_safe(fragment))
