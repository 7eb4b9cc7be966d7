"""Every feed document this process serves: its items, last change and sizes, for operators.

Read from the current edition (feeds/publish.py), which builders and followers alike hold,
so any worker answers the same. The item count is read from the document itself (a
follower has no posts), once per document bytes.
"""

from __future__ import annotations

import functools
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from feeds.catalog import FORMATS
from feeds.routes import PUBLISHER
from feeds.store import Document

ATOM_ENTRY = "{http://www.w3.org/2005/Atom}entry"


@dataclass(frozen=True, slots=True)
class FeedDocument:
    """One subscription document (page 1 of a feed in one format)."""

    path: str  # URL path: /feeds/all.rss, /feeds/tag/民生.atom
    format: str  # rss, atom or json
    items: int  # entries in this document (at most feeds.items_per_feed)
    modified: datetime  # Last-Modified: when its bytes last changed, UTC
    size: int  # bytes, uncompressed
    gzip_size: int  # bytes, gzip-compressed as served
    br_size: int  # bytes, brotli-compressed as served


def inventory(app: web.Application) -> list[FeedDocument]:
    """Every subscription document of the current edition, by path; [] before the first
    build reached this process."""
    edition = app[PUBLISHER].edition
    if edition is None:
        return []
    out = []
    for path, doc in sorted(edition.docs.items()):
        fmt = path.rpartition(".")[2]
        if not path.startswith("/feeds/") or fmt not in FORMATS or "/page/" in path:
            continue
        out.append(
            FeedDocument(
                path=path,
                format=fmt,
                items=item_count(doc, fmt),
                modified=datetime.fromtimestamp(doc.modified, UTC),
                size=len(doc.body),
                gzip_size=len(doc.gzip),
                br_size=len(doc.br),
            )
        )
    return out


@functools.lru_cache(maxsize=4096)  # by the document's ETag: the same bytes, the same count
def _count(etag: str, fmt: str, body: bytes) -> int:
    if fmt == "json":
        return len(json.loads(body).get("items", []))
    root = ET.fromstring(body)
    return len(root.findall("channel/item") if fmt == "rss" else root.findall(ATOM_ENTRY))


def item_count(doc: Document, fmt: str) -> int:
    """The items (RSS), entries (Atom) or items (JSON Feed) of a feed document."""
    return _count(doc.etag, fmt, doc.body)
