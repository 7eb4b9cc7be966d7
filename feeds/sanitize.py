"""Post bodies (HTML mixed with Markdown) to HTML that every feed reader can show safely.

markdown-it-py renders CommonMark with raw HTML passed through (the posts are mostly `<p>`
blocks plus Markdown links); nh3 (ammonia) then keeps only article markup, and its attribute
callback makes every URL absolute: feed readers and RSS-to-email services resolve relative
URLs against the feed, not the article, so `src="a.png"` or `//host/a.png` would break.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from itertools import islice
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import nh3
from markdown_it import MarkdownIt

from feeds.text import cut, one_line, xml_safe

_MARKDOWN = MarkdownIt("commonmark", {"html": True})

TAGS = set(nh3.ALLOWED_TAGS) - {"map", "area"}
ATTRIBUTES = {tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()
              if tag in TAGS}
ATTRIBUTES["a"] = {"href", "hreflang", "title"}
ATTRIBUTES["img"] = {"src", "srcset", "alt", "title", "width", "height"}
ATTRIBUTES["abbr"] = {"title"}
# Dropped together with everything inside them (not only the tag).
DROP_WITH_CONTENT = {"script", "style", "iframe", "frame", "frameset", "object", "embed",
                     "applet", "template", "noscript", "svg", "math", "textarea", "select",
                     "title", "head"}
# `data:` passes nh3 only to reach the callback, which keeps it for raster <img src> alone.
URL_SCHEMES = {"http", "https", "mailto", "tel", "data"}
_LINK_SCHEMES = {"http", "https", "mailto", "tel"}
_DATA_IMAGE = re.compile(r"data:image/(?:png|jpeg|gif|webp|avif)[;,]", re.I)
_URL_ATTRIBUTES = {"href", "src", "cite"}
# Characters left as they are when a URL is percent-encoded (RFC 3986 reserved and `%`).
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_NOT_URI = re.compile(r"[^A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]")

_BLOCK_SEPARATOR = re.compile(r"\n[ \t]*\n")
_PARAGRAPH = re.compile(r"<p>(.*?)</p>", re.S)
_PARAGRAPH_END = re.compile(r"</p\s*>", re.I)
# A block opening with a text-only <p>: CommonMark passes it through as raw HTML, so its
# text is the paragraph's text without rendering or sanitizing anything.
_PLAIN_FIRST_PARAGRAPH = re.compile(r" {0,3}<p(?:\s[^<>]*)?>([^<]*)</p\s*>", re.I)
_PLAIN_NEXT_PARAGRAPH = re.compile(r"\s*<p(?:\s[^<>]*)?>([^<]*)</p\s*>", re.I)
SUMMARY_BLOCKS = 5       # blocks searched for a first paragraph with text
SUMMARY_PARAGRAPHS = 8   # paragraphs with text looked at (and rendered of a long HTML block)
# Paragraphs that are no summary, as the papers print them. One of:
# - nothing but brackets, punctuation and spaces: 【】, [], （）;
# - a bracketed label alone: 【相关新闻】, [图集];
# - a photo caption: opening with a caption mark (■ ▲ ▼ ● ◆) or 图片说明 / 图注 / 图为 / 图：,
#   or ending with the photographer's credit (… 陈嘉新摄, … 鹭江街道供图, （摄影 张三）).
BOILERPLATE = re.compile(r"""
    [\W_]*
  | [【\[［〔][^】\]］〕]{1,12}[】\]］〕]
  | [■▲▼●◆].*
  | (?:图片说明|图注|图为|图[：:]).*
  | .*(?:摄|摄影|供图)[）)]?
  | [（(][^）)]*(?:摄影|摄|供图)[^）)]*[）)]
""", re.X | re.S)


def uri(url: str) -> str:
    """An IRI as a URI: non-ASCII and spaces percent-encoded (UTF-8), host in IDNA."""
    if not _NOT_URI.search(url):
        return _STRAY_PERCENT.sub("%25", url)
    parts = urlsplit(url)
    netloc = parts.netloc
    if not netloc.isascii():
        userinfo, at, host = netloc.rpartition("@")
        netloc = userinfo + at + host.encode("idna").decode("ascii")
    encoded = [quote(_STRAY_PERCENT.sub("%25", part), safe=_URL_SAFE)
               for part in (parts.path, parts.query, parts.fragment)]
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


def render_html(body: str, base_url: str) -> str:
    """Sanitized, XML-safe HTML of a post body; relative URLs resolved against `base_url`."""
    cleaned = nh3.clean(_MARKDOWN.render(body), tags=TAGS, attributes=ATTRIBUTES,
                        clean_content_tags=DROP_WITH_CONTENT, url_schemes=URL_SCHEMES,
                        link_rel=None, attribute_filter=_url_filter(base_url))
    return xml_safe(cleaned)


def plain_text(fragment: str) -> str:
    """Text of an HTML-ish fragment (a title, an excerpt): tags gone, entities decoded, one line."""
    if "<" in fragment or "&" in fragment:
        fragment = html.unescape(nh3.clean(fragment, tags=set(),
                                           clean_content_tags=DROP_WITH_CONTENT))
    return one_line(xml_safe(fragment))


def _paragraph_texts(body: str) -> Iterator[tuple[str, bool]]:
    """(plain text, is a paragraph) of the first blocks' paragraphs, in order; a block
    without paragraphs (a heading, a <div>) gives its whole text, marked False.

    Renders only the first few blocks, and of a long HTML block only its first paragraphs
    (text-only <p>s are read without rendering), so a summary costs a fraction of
    rendering the whole body.
    """
    for block in islice(_BLOCK_SEPARATOR.split(body, SUMMARY_BLOCKS), SUMMARY_BLOCKS):
        plain, end = _PLAIN_FIRST_PARAGRAPH.match(block), 0
        while plain:
            yield plain_text(plain.group(1)), True
            end = plain.end()
            plain = _PLAIN_NEXT_PARAGRAPH.match(block, end)
        block = block[end:]
        if not block.strip():
            continue
        ends = [m.end() for m in islice(_PARAGRAPH_END.finditer(block), SUMMARY_PARAGRAPHS)]
        if len(ends) == SUMMARY_PARAGRAPHS:
            block = block[:ends[-1]]
        rendered = nh3.clean(_MARKDOWN.render(block), tags={"p"}, attributes={},
                             clean_content_tags=DROP_WITH_CONTENT)
        paragraphs = [plain_text(match.group(1)) for match in _PARAGRAPH.finditer(rendered)]
        yield from ((text, True) for text in paragraphs)
        if not paragraphs:
            yield plain_text(rendered), False


def first_paragraph(body: str) -> str:
    """Plain text of the body's first real paragraph (Jekyll's excerpt idea): the first
    of its first SUMMARY_PARAGRAPHS paragraphs with text that is not BOILERPLATE; else the
    text of the first block without paragraphs (a heading, a <div>) that is not; else ""
    (feeds then show the title)."""
    fallback = ""
    texts = ((text, is_paragraph) for text, is_paragraph in _paragraph_texts(body) if text)
    for text, is_paragraph in islice(texts, SUMMARY_PARAGRAPHS):
        if BOILERPLATE.fullmatch(text):
            continue
        if is_paragraph:
            return text
        fallback = fallback or text
    return fallback


def summary(excerpt: str | None, body: str, length: int) -> str:
    """The excerpt as plain text when given, else the first paragraph cut at `length`."""
    if excerpt is not None and plain_text(excerpt):
        return plain_text(excerpt)
    return cut(first_paragraph(body), length)
