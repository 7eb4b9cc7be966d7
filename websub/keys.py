"""The Redis data model of the WebSub hub: every key name is built here.

Every key starts `finews:websub:`. The subscription keys share the hash tag `{subs}`, so
on Redis Cluster they sit in one slot: the RELEASE script reads a subscription hash and
changes an address set in one step. The delivery queue's keys need no common slot (its
script touches the queue alone), so jobs and their bytes spread over the cluster.

| key | type | holds |
| --- | --- | --- |
| `finews:websub:{subs}:sub:ID` | hash, TTL = lease | topic, callback, secret, lease_seconds, expires, address; ID = digest(topic, callback) |
| `finews:websub:{subs}:topic:D` | sorted set, TTL longest lease + 60 s | callback URLs subscribed to the topic with digest D, by expiry time |
| `finews:websub:{subs}:addr:A` | sorted set, TTL = last slot's end | ids of the subscriptions (verified or waiting) whose callback resolved to address A, by the time (ms) their slot frees; never more members than the cap |
| `finews:websub:queue` | sorted set | job ids by due time |
| `finews:websub:job:ID` | hash, TTL: all its retries + 1 h | kind, target, topic, content, content_type, attempt |
| `finews:websub:content:SHA` | string, TTL: as its jobs | the bytes to deliver, shared by the jobs of one change |

The release before wrote `{websub}:KIND:...`: `renamed` maps those names to these, and
websub/migrate.py moves them once. Older data may still hold `{websub}:host:HOST` sets,
the per-host cap the per-address cap replaced: nothing reads them, so they are deleted.
"""

from __future__ import annotations

PREFIX = "finews:websub"
SUBS = f"{PREFIX}:{{subs}}"
QUEUE = f"{PREFIX}:queue"


def subscription(sub_id: str) -> str:
    return f"{SUBS}:sub:{sub_id}"


def topic(topic_digest: str) -> str:
    return f"{SUBS}:topic:{topic_digest}"


def address(addr: str) -> str:
    return f"{SUBS}:addr:{addr}"


def job(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}"


def content(sha: str) -> str:
    return f"{PREFIX}:content:{sha}"


# The names of the release before: every key under the `{websub}` hash tag.
LEGACY = "{websub}:*"
_LEGACY_SUBS = ("sub", "topic", "addr")
_LEGACY_QUEUE = ("job", "content")
_OBSOLETE = ("host",)


def renamed(old: str) -> str | None:
    """The name today of a key written under `old` by the release before; None for an
    obsolete key (delete it); `old` itself when it is no name of that release."""
    kind, _, rest = old.removeprefix("{websub}:").partition(":")
    if old == "{websub}:queue":
        return QUEUE
    if kind in _LEGACY_SUBS and rest:
        return f"{SUBS}:{kind}:{rest}"
    if kind in _LEGACY_QUEUE and rest:
        return f"{PREFIX}:{kind}:{rest}"
    if kind in _OBSOLETE and old.startswith("{websub}:"):
        return None
    return old
