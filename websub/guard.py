"""Refuse callback URLs that would make the hub reach into its own network (SSRF).

The hub fetches URLs that strangers give it. A host name is checked every time it is
resolved for a connection (`GuardedResolver`), so a name that resolves to a public address
when it subscribes and to 127.0.0.1 later (DNS rebinding) is still refused at delivery.
IP literals never reach a resolver, so `check_url` checks them before each request.

Python's `is_global` is not enough on its own: it calls 192.0.0.0/24, 192.88.99.0/24,
3fff::/20 and fec0::/10 global. So an address is also refused when it falls in a range of
`SPECIAL_PURPOSE`, IANA's IPv4 and IPv6 Special-Purpose Address Registries' entries whose
"Globally Reachable" is False or N/A. More-specific entries marked True inside a refused
block (the PCP, TURN and DNS-SD anycast addresses, AMT, AS112-v6, ORCHIDv2, DETs) stay
refused: no subscriber lives there, and a shorter table is easier to check.
"""

from __future__ import annotations

import asyncio
import socket
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

IPAddress = IPv4Address | IPv6Address
# AWS/GCP/Azure/OpenStack, AWS over IPv6, Alibaba Cloud.
METADATA = frozenset(ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"))
# (range, registry name, reference): IANA Special-Purpose Address Registries (IPv4 and
# IPv6, RFC 6890) rows with Globally Reachable False or N/A, plus multicast (RFC 5771,
# RFC 4291) and the deprecated site-local prefix, which Python still calls global.
SPECIAL_PURPOSE: tuple[tuple[IPv4Network | IPv6Network, str, str], ...] = tuple(
    (ip_network(net), name, ref)
    for net, name, ref in (
        ("0.0.0.0/8", '"This network"', "RFC 791 §3.2"),
        ("10.0.0.0/8", "Private-Use", "RFC 1918"),
        ("100.64.0.0/10", "Shared Address Space", "RFC 6598"),
        ("127.0.0.0/8", "Loopback", "RFC 1122 §3.2.1.3"),
        ("169.254.0.0/16", "Link Local", "RFC 3927"),
        ("172.16.0.0/12", "Private-Use", "RFC 1918"),
        # Holds 192.0.0.0/29 (RFC 7335), 192.0.0.8/32 (RFC 7600), 192.0.0.170-171 (RFC 8880).
        ("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890 §2.1"),
        ("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737"),
        ("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526"),
        ("192.168.0.0/16", "Private-Use", "RFC 1918"),
        ("198.18.0.0/15", "Benchmarking", "RFC 2544"),
        ("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737"),
        ("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737"),
        ("224.0.0.0/4", "Multicast", "RFC 5771"),
        ("240.0.0.0/4", "Reserved", "RFC 1112 §4"),
        ("255.255.255.255/32", "Limited Broadcast", "RFC 8190, RFC 919 §7"),
        ("::/128", "Unspecified Address", "RFC 4291"),
        ("::1/128", "Loopback Address", "RFC 4291"),
        ("64:ff9b:1::/48", "IPv4-IPv6 Translation (local use)", "RFC 8215"),
        ("100::/64", "Discard-Only Address Block", "RFC 6666"),
        ("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780"),
        # Holds Teredo 2001::/32 (N/A, RFC 4380), benchmarking 2001:2::/48 (RFC 5180) and
        # the deprecated ORCHID 2001:10::/28 (N/A, RFC 4843).
        ("2001::/23", "IETF Protocol Assignments", "RFC 2928"),
        ("2001:db8::/32", "Documentation", "RFC 3849"),
        ("3fff::/20", "Documentation", "RFC 9637"),
        ("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602"),
        ("fc00::/7", "Unique-Local", "RFC 4193, RFC 8190"),
        ("fe80::/10", "Link-Local Unicast", "RFC 4291"),
        ("fec0::/10", "Site-Local (deprecated)", "RFC 3879"),
        ("ff00::/8", "Multicast", "RFC 4291"),
    )
)
# IPv6 prefixes whose addresses stand for the IPv4 address they carry: IPv4-mapped
# (RFC 4291), NAT64 (RFC 6052) and 6to4 (RFC 3056). The registry marks the first and last
# not globally reachable as IPv6 destinations; what a connection reaches is the IPv4 one.
MAPPED, NAT64, SIXTOFOUR = (ip_network(n) for n in ("::ffff:0:0/96", "64:ff9b::/96", "2002::/16"))
COMPATIBLE = ip_network("::/96")  # deprecated IPv4-compatible (RFC 4291 §2.5.5.1)
RULES = (
    ("is_unspecified", "an unspecified"),
    ("is_loopback", "a loopback"),
    ("is_link_local", "a link-local"),
    ("is_multicast", "a multicast"),
    ("is_reserved", "a reserved"),
    ("is_private", "a private"),
)
SETTING = "websub.allow_private_callbacks is false"
RESOLVE_TIMEOUT = 5.0


class Refused(OSError):
    """A callback the hub will not contact; the message names the rule."""


def embedded_ipv4(ip: IPAddress) -> list[IPv4Address]:
    """The IPv4 addresses an IPv6 one carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    if isinstance(ip, IPv4Address):
        return []
    low = IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in MAPPED or ip in NAT64 or (ip in COMPATIBLE and int(ip) > 1):
        return [low]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    return list(ip.teredo) if ip.teredo is not None else []


def special_purpose(ip: IPAddress) -> str | None:
    """The `SPECIAL_PURPOSE` entry `ip` falls in, described, or None."""
    for network, name, reference in SPECIAL_PURPOSE:
        if ip.version == network.version and ip in network:
            return f"in {network}, {name} ({reference})"
    return None


def address_problem(ip: IPAddress) -> str | None:
    """Why the hub must not connect to `ip` ("a loopback address"), or None if it is public.

    An IPv6 address that carries an IPv4 one is refused when that one is; a mapped, NAT64
    or 6to4 address is then judged by it alone, any other (Teredo, IPv4-compatible) by its
    own IPv6 ranges too.
    """
    for inner in embedded_ipv4(ip):
        problem = address_problem(inner)
        if problem:
            return problem
    if ip in MAPPED or ip in NAT64 or ip in SIXTOFOUR:
        return None
    if ip in METADATA:
        return "a cloud metadata address"
    for attribute, name in RULES:
        if getattr(ip, attribute):
            return f"{name} address"
    where = special_purpose(ip)
    if where:
        return f"a special-purpose address {where}"
    return None if ip.is_global else "not a public address"


def normalised(ip: IPAddress) -> IPAddress:
    """The IPv4 address behind an IPv4-mapped one, else `ip`: one host, one spelling."""
    return (ip.ipv4_mapped or ip) if isinstance(ip, IPv6Address) else ip


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
        raise Refused(
            f"hub.callback: scheme {parsed.scheme or '(none)'!r} refused: expected http or https"
        )
    if not parsed.raw_host:
        raise Refused("hub.callback: the URL has no host")
    address = literal(parsed.raw_host)
    problem = None if allow_private or address is None else address_problem(address)
    if problem:
        raise Refused(f"hub.callback: {address} is {problem}; refused ({SETTING})")
    return parsed


def check_resolved(host: str, results: list[ResolveResult]) -> None:
    """Refused when any address `host` resolved to is one the hub must not connect to."""
    for result in results:
        problem = address_problem(ip_address(result["host"]))
        if problem:
            raise Refused(
                f"hub.callback: {host} resolves to {result['host']}, {problem}; refused ({SETTING})"
            )


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, then refuses names with a forbidden address.

    The hub's HTTP client connects through it, so the check runs on the very addresses a
    verification or delivery connects to. With `allow_private` it only resolves.
    """

    def __init__(self, allow_private: bool, inner: AbstractResolver | None = None) -> None:
        self.allow_private = allow_private
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            results = await self._inner.resolve(host, port, family)
        if not self.allow_private:
            check_resolved(host, results)
        return results

    async def close(self) -> None:
        await self._inner.close()


async def check_callback(url: str, resolver: GuardedResolver) -> IPAddress:
    """The address the callback's subscriptions count against; Refused if it may not be
    contacted now. A name counts against the lowest address it resolves to (IPv4 first)."""
    parsed = check_url(url, resolver.allow_private)
    host = parsed.raw_host or ""
    address = literal(host)
    if address is not None:
        return normalised(address)
    try:
        results = await resolver.resolve(host, parsed.port or 0, socket.AF_UNSPEC)
    except Refused:
        raise
    except (TimeoutError, OSError) as exc:
        raise Refused(f"hub.callback: {host} does not resolve ({str(exc) or 'timeout'})") from None
    addresses = {normalised(ip_address(result["host"])) for result in results}
    if not addresses:
        raise Refused(f"hub.callback: {host} does not resolve (no address)")
    return min(addresses, key=lambda ip: (ip.version, int(ip)))
