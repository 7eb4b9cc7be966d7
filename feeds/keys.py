"""The Redis data model of the feeds: every key and pub/sub channel name is built here.

Every key of the documents starts `finews:feeds:{docs}:`: one hash tag for all, so on Redis
Cluster they land in one slot and a build's one script (epoch check, documents, ETags and
version together) works. The polling statistics share `{polls}`, so each flush's one
pipeline goes to one node.
Channels are no keys (PUBLISH reaches every node), so they carry no hash tag.

| key | type | holds |
| --- | --- | --- |
| `finews:feeds:{docs}:doc:PATH` | hash | one current document: body, gzip, br, etag, modified, content_type, links |
| `finews:feeds:{docs}:etags` | hash | URL path -> ETag of every current document |
| `finews:feeds:{docs}:version` | string (counter) | bumped by each build that changed anything |
| `finews:feeds:{docs}:page-dates` | hash | archive page path -> "ETag seconds", the bytes last rendered there and their date |
| `finews:feeds:{docs}:lease` | string, TTL feeds.lease_seconds | the builder lease: its holder's id (feeds/lease.py) |
| `finews:feeds:{docs}:epoch` | string (counter) | fencing token: bumped by each lease taken; a build is stored only under the current one |
| `finews:feeds:{docs}:page:VERSION:PATH` | hash, TTL 60 s | an archive page rendered for a follower (a hand-over, not a cache) |
| `finews:feeds:{polls}:HOUR:PATH` | hash, TTL feeds.poll_stats_days | requests, not_modified and reader:NAME counts of one feed document in one hour (HOUR: Unix hours; feeds/polling.py) |
| `finews:feeds:{polls}:HOUR` | set, TTL feeds.poll_stats_days | the paths of the feed documents polled in that hour |

| channel | message |
| --- | --- |
| `finews:feeds:changed` | the new version, after each build that changed anything |
| `finews:feeds:page-wanted` | a follower asks for an archive page: JSON [kind, term, number] |
| `finews:feeds:page-ready` | the builder wrote that page under its version |

The release before called the ETags hash `finews:feeds:{docs}:index` and put the hash tag
in the channel names: feeds/migrate.py renames the hash once (the documents keep their
names, so a restarted follower serves them at once).
"""

from __future__ import annotations

PREFIX = "finews:feeds:{docs}"
ETAGS = f"{PREFIX}:etags"
VERSION = f"{PREFIX}:version"
PAGE_DATES = f"{PREFIX}:page-dates"
LEASE = f"{PREFIX}:lease"
EPOCH = f"{PREFIX}:epoch"

CHANGED = "finews:feeds:changed"
PAGE_WANTED = "finews:feeds:page-wanted"
PAGE_READY = "finews:feeds:page-ready"

POLLS = "finews:feeds:{polls}"

# The one name of the release before that changed.
LEGACY_ETAGS = f"{PREFIX}:index"


def doc(path: str) -> str:
    return f"{PREFIX}:doc:{path}"


def page(version: int, path: str) -> str:
    return f"{PREFIX}:page:{version}:{path}"


def polls(hour: int, path: str) -> str:
    """The poll counts of the feed document at `path` in Unix hour `hour`."""
    return f"{POLLS}:{hour}:{path}"


def polled(hour: int) -> str:
    """The paths polled in Unix hour `hour`."""
    return f"{POLLS}:{hour}"


def renamed(old: str) -> str:
    """The name today of a key written under `old` by the release before."""
    return ETAGS if old == LEGACY_ETAGS else old
