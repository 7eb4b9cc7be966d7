"""Refuse callback URLs that would make the hub reach into its own network (SSRF).

The hub fetches URLs that strangers give it. A host name is checked every time it is
resolved for a connection (`GuardedResolver`), so a name that resolves to a public address
when it subscribes and to 127.0.0.1 later (DNS rebinding) is still refused at delivery.
IP literals never reach a resolver, so `check_url` checks them before each request.
"""

from __future__ import annotations

import asyncio
import socket
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

IPAddress = IPv4Address | IPv6Address
# AWS/GCP/Azure/OpenStack, AWS over IPv6, Alibaba Cloud.
METADATA = frozenset(ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254",
                                             "100.100.100.200"))
NAT64 = ip_network("64:ff9b::/96")
RULES = (("is_unspecified", "an unspecified"), ("is_loopback", "a loopback"),
         ("is_link_local", "a link-local"), ("is_multicast", "a multicast"),
         ("is_reserved", "a reserved"), ("is_private", "a private"))
SETTING = "websub.allow_private_callbacks is false"
RESOLVE_TIMEOUT = 5.0


class Refused(OSError):
    """A callback the hub will not contact; the message names the rule."""


def embedded_ipv4(ip: IPAddress) -> IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64), which is what it reaches."""
    if isinstance(ip, IPv4Address):
        return None
    if ip.ipv4_mapped or ip.sixtofour:
        return ip.ipv4_mapped or ip.sixtofour
    return IPv4Address(int(ip) & 0xFFFFFFFF) if ip in NAT64 else None


def address_problem(ip: IPAddress) -> str | None:
    """Why the hub must not connect to `ip` ("a loopback address"), or None if it is public."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        return address_problem(inner)
    if ip in METADATA:
        return "a cloud metadata address"
    for attribute, name in RULES:
        if getattr(ip, attribute):
            return f"{name} address"
    return None if ip.is_global else "not a public address"


def literal(host: str) -> IPAddress | None:
    """The address when `host` is an IP literal, else None (a name)."""
    try:
        return ip_address(host)
    except ValueError:
        return None


def check_url(url: str, allow_private: bool) -> URL:
    """The parsed callback URL; Refused if its scheme, host or literal address is not allowed."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        raise Refused(f"hub.callback: {url!r} is not a URL") from None
    if parsed.scheme not in ("http", "https"):
        raise Refused(f"hub.callback: scheme {parsed.scheme or '(none)'!r} refused: "
                      "expected http or https")
    if not parsed.raw_host:
        raise Refused("hub.callback: the URL has no host")
    address = literal(parsed.raw_host)
    problem = None if allow_private or address is None else address_problem(address)
    if problem:
        raise Refused(f"hub.callback: {address} is {problem}; refused ({SETTING})")
    return parsed


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, then refuses names with a forbidden address."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            results = await self._inner.resolve(host, port, family)
        for result in results:
            problem = address_problem(ip_address(result["host"]))
            if problem:
                raise Refused(f"hub.callback: {host} resolves to {result['host']}, "
                              f"{problem}; refused ({SETTING})")
        return results

    async def close(self) -> None:
        await self._inner.close()


async def check_callback(url: str, resolver: AbstractResolver | None) -> None:
    """Refused unless the callback may be contacted now; a None resolver allows private ones."""
    parsed = check_url(url, allow_private=resolver is None)
    host = parsed.raw_host or ""
    if resolver is None or literal(host) is not None:
        return
    try:
        await resolver.resolve(host, parsed.port or 0, socket.AF_UNSPEC)
    except Refused:
        raise
    except (TimeoutError, OSError) as exc:
        raise Refused(f"hub.callback: {host} does not resolve ({exc or 'timeout'})") from None
