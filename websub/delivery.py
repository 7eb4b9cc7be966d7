"""The hub's outgoing HTTP: intent verification, content delivery, publish pings.

Every call is bounded by the session's total timeout; redirects are not followed (their
target would escape the callback checks); a verification answer is read up to a byte
limit and a delivery answer not at all.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from websub.guard import Refused, check_url

USER_AGENT = "finews-websub/1"


def session(resolver: AbstractResolver | None, timeout: float, limit: int) -> aiohttp.ClientSession:
    """A client that resolves through `resolver`, ignores proxy variables and never lingers."""
    connector = aiohttp.TCPConnector(resolver=resolver, limit=limit, force_close=True)
    return aiohttp.ClientSession(
        connector=connector,
        trust_env=False,
        auto_decompress=False,
        timeout=aiohttp.ClientTimeout(total=timeout),
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
    )


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def _request(
    client: aiohttp.ClientSession, method: str, url: URL | str, **kwargs: Any
) -> aiohttp.ClientResponse:
    """Send without following redirects; a guard refusal comes out as Refused."""
    try:
        return await client.request(method, url, allow_redirects=False, **kwargs)
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, Refused):
            raise exc.os_error from None
        raise


async def verify(
    client: aiohttp.ClientSession,
    allow_private: bool,
    mode: str,
    topic: str,
    callback: str,
    challenge: str,
    lease_seconds: int | None,
    max_bytes: int,
) -> str | None:
    """Ask the callback to confirm the intent; None when it echoed the challenge, else why not."""
    query = {"hub.mode": mode, "hub.topic": topic, "hub.challenge": challenge}
    if lease_seconds is not None:
        query["hub.lease_seconds"] = str(lease_seconds)
    url = check_url(callback, allow_private).extend_query(query)
    async with await _request(client, "GET", url) as response:
        if not 200 <= response.status < 300:
            return f"callback answered {response.status}"
        body = bytearray()
        async for chunk in response.content.iter_any():
            body += chunk
            if len(body) > max_bytes:
                return f"callback answered more than {max_bytes} bytes"
    if body.strip() != challenge.encode():
        return "callback did not echo hub.challenge"
    return None


async def deliver(
    client: aiohttp.ClientSession,
    allow_private: bool,
    callback: str,
    secret: str,
    hub: str,
    topic: str,
    body: bytes,
    content_type: str,
) -> int:
    """POST the topic's new bytes to a subscriber; the HTTP status it answered."""
    headers = {"Content-Type": content_type, "Link": f'<{hub}>; rel="hub", <{topic}>; rel="self"'}
    if secret:
        headers["X-Hub-Signature"] = signature(secret, body)
    url = check_url(callback, allow_private)
    async with await _request(client, "POST", url, data=body, headers=headers) as response:
        return response.status


async def ping(client: aiohttp.ClientSession, hub: str, topic: str) -> int:
    """Tell an external hub that `topic` changed; the HTTP status it answered."""
    form = {"hub.mode": "publish", "hub.url": topic}
    async with await _request(client, "POST", hub, data=form) as response:
        return response.status
