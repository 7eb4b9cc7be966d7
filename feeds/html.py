"""HTML for people: the home page `/` (the list of feeds), a readable view of each feed, 404s.

A browser that opens a feed URL gets the HTML view, chosen by its Accept header (see
feeds/serve.py), rather than an XSL stylesheet: browsers are removing XSLT, and a view
chosen by Accept needs nothing from the browser and leaves the feed bytes untouched.
"""

from __future__ import annotations

from html import escape

from feeds.catalog import FORMATS, Catalog, Feed, Site, term_path
from feeds.documents import MEDIA_TYPES, Page
from feeds.labels import labels
from feeds.text import xml_safe

STYLE = (
    "body{max-width:46rem;margin:2rem auto;padding:0 1rem;font:16px/1.6 system-ui,"
    "sans-serif;color:#222}a{color:#0b57d0}h1{font-size:1.6rem}h2{font-size:1.15rem;"
    "margin:1.4rem 0 .2rem}.meta,.count{color:#666;font-size:.9rem}code{font-size:.85rem;"
    "word-break:break-all}nav{margin:2rem 0}nav a{margin-right:1.5rem}ul.terms{padding:0;"
    "list-style:none}ul.terms li{margin:.3rem 0}"
)


def _document(site: Site, title: str, head: str, body: str) -> bytes:
    return (
        f'<!doctype html><html lang="{escape(site.language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title>{head}<style>{STYLE}</style></head>"
        f"<body>{body}</body></html>"
    ).encode()


def _alternates(site: Site, feed: Feed) -> str:
    """`<link rel="alternate">` autodiscovery of a feed's three formats."""
    title = escape(xml_safe(feed.title(site)))
    return "".join(
        f'<link rel="alternate" type="{MEDIA_TYPES[fmt]}" title="{title}" '
        f'href="{escape(site.absolute(feed.page_path(1, fmt)))}">'
        for fmt in FORMATS
    )


def _format_links(site: Site, feed: Feed) -> str:
    return " · ".join(
        f'<a href="{escape(site.absolute(feed.page_path(1, fmt)))}">{fmt.upper()}</a>'
        for fmt in FORMATS
    )


def _feed_line(site: Site, feed: Feed) -> str:
    words = labels(site.language)
    return (
        f'<li><a href="{escape(site.absolute(feed.page_path(1, "rss")))}">'
        f"{escape(xml_safe(feed.name))}</a> "
        f'<span class="count">{words["posts"].format(count=len(feed.posts))}</span> '
        f'<span class="meta">{_format_links(site, feed)}</span></li>'
    )


def home(site: Site, catalog: Catalog) -> bytes:
    """The home page `/`: every feed, with autodiscovery of the all and category feeds."""
    words = labels(site.language)
    head = "".join(_alternates(site, feed) for feed in catalog if feed.kind in ("all", "category"))
    body = [
        f"<h1>{escape(xml_safe(site.name))}</h1>",
        f'<p><a href="{escape(site.absolute("/feeds.opml"))}">{words["opml"]}</a></p>',
        '<ul class="terms">'
        + "".join(_feed_line(site, feed) for feed in catalog.of_kind("all"))
        + "</ul>",
    ]
    for kind in ("category", "tag"):
        feeds = catalog.of_kind(kind)
        if feeds:
            body.append(
                f'<h2>{words[kind]}</h2><ul class="terms">'
                + "".join(_feed_line(site, feed) for feed in feeds)
                + "</ul>"
            )
    return _document(site, xml_safe(site.name), head, "".join(body))


def feed_view(page: Page) -> bytes:
    """A feed page as a readable web page, with its subscription addresses on top."""
    site, feed, words = page.site, page.feed, labels(page.site.language)
    subscribe = "".join(
        f'<li>{fmt.upper()}: <a href="{escape(page.url(fmt, 1))}"><code>'
        f"{escape(page.url(fmt, 1))}</code></a></li>"
        for fmt in FORMATS
    )
    body = [
        f"<h1>{escape(page.title)}</h1><p>{escape(page.description)}</p>",
        f'<p class="meta">{words["subscribe"]}</p><ul>{subscribe}</ul>',
    ]
    for item in page.items:
        terms = [(name, ("category", slug)) for slug, name in item.categories]
        terms += [(tag, ("tag", tag)) for tag in item.tags]
        term_links = " ".join(
            f'<a href="{escape(site.absolute(term_path(kind, term)))}.rss">{escape(name)}</a>'
            for name, (kind, term) in terms
        )
        author = f" · {escape(item.author)}" if item.author else ""
        body.append(
            f'<article><h2><a href="{escape(item.url)}">{escape(item.title)}</a></h2>'
            f'<p class="meta"><time datetime="{item.published.isoformat()}">'
            f"{item.published.strftime('%Y-%m-%d %H:%M')}</time>{author} {term_links}</p>"
            f"<p>{escape(item.summary)}</p></article>"
        )
    nav = []
    if page.number > 1:
        nav.append(
            f'<a rel="prev" href="{escape(page.url("rss", page.number - 1))}">{words["newer"]}</a>'
        )
    if page.number < page.count:
        nav.append(
            f'<a rel="next" href="{escape(page.url("rss", page.number + 1))}">{words["older"]}</a>'
        )
    nav.append(
        f'<span class="meta">{words["page"].format(number=page.number, count=page.count)}'
        f'</span> <a href="{escape(site.url)}/">{words["home"]}</a>'
    )
    body.append(f"<nav>{''.join(nav)}</nav>")
    return _document(site, page.title, _alternates(site, feed), "".join(body))


def not_found(site: Site, message: str) -> bytes:
    """A 404 page in the site's language, with what was missing (in English, as the
    problem details say it) and where the list of feeds is."""
    words = labels(site.language)
    return _document(
        site,
        words["not_found"],
        "",
        f"<h1>{words['not_found']}</h1><p>{words['not_found_text']}</p>"
        f'<p class="meta" lang="en">{escape(message)}</p>'
        f'<p><a href="{escape(site.url)}/">{words["home"]}</a> · '
        f'<a href="{escape(site.absolute("/feeds.opml"))}">{words["opml"]}</a></p>',
    )
