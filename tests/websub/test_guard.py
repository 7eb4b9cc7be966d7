"""The SSRF guard as pure functions: no test here opens a connection to any address but
127.0.0.1, and most open none at all.

Every range of the special-purpose table is refused at its first, middle and last address,
as a literal at subscribe time and as a resolver answer at connect time; real public
addresses are only ever handled as values.
"""

from __future__ import annotations

import re
import socket
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer
from hypothesis import given, settings
from hypothesis import strategies as st

from websub import delivery
from websub.guard import (
    SPECIAL_PURPOSE,
    GuardedResolver,
    Refused,
    address_problem,
    check_callback,
    check_resolved,
    check_url,
)

Network = IPv4Network | IPv6Network


def samples(network: Network) -> list[IPv4Address | IPv6Address]:
    """The first, a middle and the last address of `network`."""
    return sorted({network[0], network[network.num_addresses // 2], network[-1]})


TABLE = [
    pytest.param(address, id=f"{network}-{address}")
    for network, _, _ in SPECIAL_PURPOSE
    for address in samples(network)
]
# Ranges that must be in the table (IANA: Globally Reachable False or N/A), one address each.
REGISTRY = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.0.0/29",
    "192.0.0.8/32",
    "192.0.0.170/31",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "240.0.0.0/4",
    "255.255.255.255/32",
    "::/128",
    "::1/128",
    "64:ff9b:1::/48",
    "100::/64",
    "100:0:0:1::/64",
    "2001::/23",
    "2001::/32",
    "2001:2::/48",
    "2001:10::/28",
    "2001:db8::/32",
    "3fff::/20",
    "5f00::/16",
    "fc00::/7",
    "fe80::/10",
    "224.0.0.0/4",
    "ff00::/8",
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "9.9.9.9",
    "114.114.114.114",
    "223.5.5.5",
    "180.76.76.76",
    "192.0.1.1",
    "192.31.196.1",
    "192.52.193.1",
    "192.175.48.1",
    "100.63.255.255",
    "100.128.0.0",
    "172.32.0.1",
    "198.20.0.1",
    "2001:4860:4860::8888",
    "2606:4700:4700::1111",
    "2400:3200::1",
    "2001:200::1",
    "2620:4f:8000::1",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
    "2002:df05:505::1",
]


class StaticResolver(AbstractResolver):
    """A resolver that answers from a table: DNS answers chosen by the test, no packets."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [result(host, address, port) for address in self.answers[host]]

    async def close(self) -> None:
        pass


def result(host: str, address: str, port: int = 80) -> ResolveResult:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return ResolveResult(
        hostname=host, host=address, port=port, family=family, proto=0, flags=socket.AI_NUMERICHOST
    )


def url_for(address: IPv4Address | IPv6Address) -> str:
    host = f"[{address}]" if address.version == 6 else str(address)
    return f"http://{host}/cb"


@pytest.mark.parametrize("address", TABLE)
def test_every_special_purpose_range_is_refused_at_its_first_middle_and_last_address(
    address: IPv4Address | IPv6Address,
) -> None:
    assert address_problem(address) is not None
    with pytest.raises(Refused, match=re.escape("websub.allow_private_callbacks is false")):
        check_url(url_for(address), allow_private=False)


@pytest.mark.parametrize("address", TABLE)
def test_every_special_purpose_range_is_refused_when_a_name_resolves_to_it(
    address: IPv4Address | IPv6Address,
) -> None:
    answers = [
        result("feed-reader.example", "93.184.216.34"),
        result("feed-reader.example", str(address)),
    ]
    with pytest.raises(Refused, match=f"feed-reader.example resolves to {address}"):
        check_resolved("feed-reader.example", answers)


@pytest.mark.parametrize("network", REGISTRY)
def test_the_table_covers_every_registry_range_that_is_not_globally_reachable(network: str) -> None:
    wanted: Network = ip_network(network)
    assert any(
        wanted.version == known.version and wanted.subnet_of(known)  # type: ignore[arg-type]
        for known, _, _ in SPECIAL_PURPOSE
    )


@pytest.mark.parametrize(
    "address", ["192.0.0.8", "192.0.0.100", "192.88.99.1", "3fff::1", "fec0::1"]
)
def test_ranges_python_calls_global_are_refused_naming_the_registry_entry(address: str) -> None:
    assert ip_address(address).is_global  # the gap this table closes
    problem = address_problem(ip_address(address))
    assert problem is not None and "RFC" in problem


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert address_problem(ip_address(address)) is None
    check_resolved("feed-reader.example", [result("feed-reader.example", address)])


V4_TABLE = [
    pytest.param(address, id=str(address))
    for network, _, _ in SPECIAL_PURPOSE
    if network.version == 4
    for address in samples(network)
]


@pytest.mark.parametrize("inner", V4_TABLE)
@pytest.mark.parametrize(
    "carrier", ["::ffff:{}", "64:ff9b::{}", "::{}", "2002:{}::1", "teredo-client", "teredo-server"]
)
def test_an_ipv6_address_carrying_a_refused_ipv4_one_is_refused(
    inner: IPv4Address, carrier: str
) -> None:
    value = int(inner)
    if carrier == "teredo-client":  # server 8.8.8.8, client address stored inverted
        outer = IPv6Address(
            (0x20010000 << 96) | (int(IPv4Address("8.8.8.8")) << 64) | (value ^ 0xFFFFFFFF)
        )
    elif carrier == "teredo-server":
        outer = IPv6Address((0x20010000 << 96) | (value << 64) | (0x0808_0808 ^ 0xFFFFFFFF))
    elif carrier.startswith("2002"):
        outer = IPv6Address((0x2002 << 112) | (value << 80) | 1)
    else:
        outer = IPv6Address(carrier.format(inner))
    assert address_problem(outer) is not None
    with pytest.raises(Refused):
        check_url(url_for(outer), allow_private=False)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.data())
def test_any_address_inside_a_table_range_is_refused(data: st.DataObject) -> None:
    network, _, _ = data.draw(st.sampled_from(SPECIAL_PURPOSE))
    offset = data.draw(st.integers(0, network.num_addresses - 1))
    assert address_problem(network[offset]) is not None


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_mapped_nat64_and_6to4_addresses_are_judged_by_the_ipv4_one(value: int) -> None:
    inner = IPv4Address(value)
    verdict = address_problem(inner) is None
    for outer in (
        IPv6Address((0xFFFF << 32) | value),
        IPv6Address(f"64:ff9b::{inner}"),
        IPv6Address((0x2002 << 112) | (value << 80) | 1),
    ):
        assert (address_problem(outer) is None) == verdict


async def test_a_name_resolving_to_a_refused_address_is_refused_at_subscribe_time() -> None:
    resolver = GuardedResolver(False, StaticResolver({"rebind.test": ["192.0.0.8"]}))
    with pytest.raises(Refused, match=re.escape("rebind.test resolves to 192.0.0.8")):
        await check_callback("http://rebind.test/cb", resolver)


async def test_the_hub_client_refuses_at_connect_time_a_name_that_passed_before() -> None:
    """The check sits in the connector the hub sends with: a name that now resolves to
    loopback (DNS rebinding) gets no request. The only address in play is 127.0.0.1."""
    hits: list[str] = []

    async def callback(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/cb", callback)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    answers = {"rebind.test": ["127.0.0.1"]}
    allowed = delivery.session(GuardedResolver(True, StaticResolver(answers)), 5.0, 4)
    guarded = delivery.session(GuardedResolver(False, StaticResolver(answers)), 5.0, 4)
    url = f"http://rebind.test:{server.port}/cb"
    try:
        assert (
            await delivery.deliver(allowed, True, url, "", "hub", "topic", b"x", "text/plain")
            == 204
        )  # the same name and server are reachable when private callbacks are allowed
        with pytest.raises(
            Refused, match=re.escape("rebind.test resolves to 127.0.0.1, a loopback")
        ):
            await delivery.deliver(guarded, False, url, "", "hub", "topic", b"x", "text/plain")
        assert hits == ["/cb"]
    finally:
        await allowed.close()
        await guarded.close()
        await server.close()
