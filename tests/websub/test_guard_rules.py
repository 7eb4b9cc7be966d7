"""The SSRF guard's answers word for word: which rule refused an address, which URLs are
not callbacks at all, and which address a name counts against.

Pure functions and a table resolver only: no packet leaves the process. A refusal's
message is what a subscriber and an operator read, so each rule is pinned to its words.
"""

from __future__ import annotations

import asyncio
import re
import socket
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from websub import guard
from websub.guard import (
    GuardedResolver,
    Refused,
    address_problem,
    check_callback,
    check_resolved,
    check_url,
    embedded_ipv4,
    literal,
    normalised,
    special_purpose,
)

SETTING = "refused (websub.allow_private_callbacks is false)"


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("169.254.169.254", "a cloud metadata address"),  # would otherwise be link-local
        ("fd00:ec2::254", "a cloud metadata address"),  # would otherwise be private
        ("100.100.100.200", "a cloud metadata address"),  # would otherwise be shared space
        ("::ffff:169.254.169.254", "a cloud metadata address"),
        ("0.0.0.0", "an unspecified address"),  # also private: the first rule wins
        ("::", "an unspecified address"),
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),  # not 0.0.0.1 IPv4-compatible
        ("169.254.1.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("10.1.2.3", "a private address"),
        ("fd12:3456::1", "a private address"),
        ("::2", "a private address"),  # IPv4-compatible 0.0.0.2
        ("::808:808", "a reserved address"),  # IPv4-compatible: ::/8 too
        ("::ffff:10.0.0.1", "a private address"),
        ("64:ff9b::7f00:1", "a loopback address"),  # NAT64 of 127.0.0.1
        ("2002:a00:1::1", "a private address"),  # 6to4 of 10.0.0.1
        (
            "192.0.0.8",
            "a special-purpose address in 192.0.0.0/24, IETF Protocol Assignments (RFC 6890 §2.1)",
        ),
        (
            "192.88.99.1",
            "a special-purpose address in 192.88.99.0/24, Deprecated (6to4 Relay "
            "Anycast) (RFC 7526)",
        ),
        (
            "100.64.0.1",
            "a special-purpose address in 100.64.0.0/10, Shared Address Space (RFC 6598)",
        ),
        ("3fff::1", "a special-purpose address in 3fff::/20, Documentation (RFC 9637)"),
        ("fec0::1", "a special-purpose address in fec0::/10, Site-Local (deprecated) (RFC 3879)"),
    ],
)
def test_each_rule_names_itself(address: str, problem: str) -> None:
    assert address_problem(ip_address(address)) == problem


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"],
)
def test_public_addresses_and_their_ipv6_carriers_have_no_problem(address: str) -> None:
    assert address_problem(ip_address(address)) is None
    assert special_purpose(ip_address(address)) is None


def test_ipv4_addresses_never_match_ipv6_ranges() -> None:
    # 0.0.0.1 has the same integer value as ::1, 255.255.255.255 as ::ffff:ffff.
    assert special_purpose(IPv4Address("0.0.0.1")) == 'in 0.0.0.0/8, "This network" (RFC 791 §3.2)'
    assert special_purpose(IPv6Address("::1")) == "in ::1/128, Loopback Address (RFC 4291)"


@pytest.mark.parametrize(
    ("address", "inner"),
    [
        ("8.8.8.8", []),
        ("::ffff:8.8.4.4", ["8.8.4.4"]),
        ("64:ff9b::808:404", ["8.8.4.4"]),
        ("::808:404", ["8.8.4.4"]),  # IPv4-compatible
        ("::", []),
        ("::1", []),  # unspecified and loopback, not 0.0.0.x
        ("::2", ["0.0.0.2"]),
        ("2002:808:404::1", ["8.8.4.4"]),
        ("2001:0:808:808:0:0:f7f7:fbfb", ["8.8.8.8", "8.8.4.4"]),  # Teredo: server, client
        ("2001:4860:4860::8888", []),
    ],
)
def test_the_ipv4_addresses_an_ipv6_one_carries(address: str, inner: list[str]) -> None:
    assert embedded_ipv4(ip_address(address)) == [IPv4Address(a) for a in inner]


def test_one_host_one_spelling() -> None:
    assert normalised(IPv6Address("::ffff:8.8.8.8")) == IPv4Address("8.8.8.8")
    assert normalised(IPv6Address("2001:4860::1")) == IPv6Address("2001:4860::1")
    assert normalised(IPv4Address("8.8.8.8")) == IPv4Address("8.8.8.8")
    assert literal("8.8.8.8") == IPv4Address("8.8.8.8")
    assert literal("::1") == IPv6Address("::1")
    assert literal("feed-reader.example") is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "ftp://feed-reader.example/cb",
            "hub.callback: scheme 'ftp' refused: expected http or https",
        ),
        ("file:///etc/passwd", "hub.callback: scheme 'file' refused: expected http or https"),
        ("/relative/cb", "hub.callback: scheme '(none)' refused: expected http or https"),
        ("http:///cb", "hub.callback: the URL has no host"),
        ("http://[::1/cb", "hub.callback: 'http://[::1/cb' is not a URL"),
        ("http://127.0.0.1:8080/cb", f"hub.callback: 127.0.0.1 is a loopback address; {SETTING}"),
        (
            "https://[::ffff:10.0.0.1]/cb",
            f"hub.callback: ::ffff:a00:1 is a private address; {SETTING}",
        ),
    ],
)
def test_callbacks_that_are_refused_before_any_lookup(url: str, message: str) -> None:
    with pytest.raises(Refused) as caught:
        check_url(url, allow_private=False)
    assert str(caught.value) == message


def test_private_literals_pass_only_when_allowed_and_names_are_left_to_the_resolver() -> None:
    assert (
        str(check_url("http://127.0.0.1:8080/cb", allow_private=True)) == "http://127.0.0.1:8080/cb"
    )
    assert (
        check_url("https://feed-reader.example/cb?x=1", allow_private=False).host
        == "feed-reader.example"
    )
    assert check_url("http://8.8.8.8/cb", allow_private=False).port == 80
    with pytest.raises(Refused, match="scheme 'ftp' refused"):
        check_url("ftp://127.0.0.1/", allow_private=True)


def result(host: str, address: str, port: int = 80) -> ResolveResult:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return ResolveResult(
        hostname=host, host=address, port=port, family=family, proto=0, flags=socket.AI_NUMERICHOST
    )


class TableResolver(AbstractResolver):
    """DNS answers chosen by the test (or an error to raise), no packets; records calls."""

    def __init__(self, answers: dict[str, list[str] | Exception | None]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, int, int]] = []
        self.closed = False

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.calls.append((host, port, family))
        answer = self.answers[host]
        if answer is None:  # never answers
            await asyncio.Event().wait()
        if isinstance(answer, Exception):
            raise answer
        return [result(host, address, port) for address in answer]

    async def close(self) -> None:
        self.closed = True


def test_a_resolved_address_is_refused_naming_host_address_and_rule() -> None:
    answers = [result("reader.example", "8.8.8.8"), result("reader.example", "10.0.0.7")]
    with pytest.raises(Refused) as caught:
        check_resolved("reader.example", answers)
    assert str(caught.value) == (
        f"hub.callback: reader.example resolves to 10.0.0.7, a private address; {SETTING}"
    )
    check_resolved("reader.example", answers[:1])
    check_resolved("reader.example", [])


async def test_a_name_counts_against_its_lowest_address_ipv4_first() -> None:
    inner = TableResolver(
        {"reader.example": ["2001:4860::1", "8.8.8.8", "1.1.1.1", "::ffff:1.0.0.1"]}
    )
    resolver = GuardedResolver(False, inner)
    assert await check_callback("https://reader.example:8443/cb", resolver) == IPv4Address(
        "1.0.0.1"
    )
    assert inner.calls == [("reader.example", 8443, socket.AF_UNSPEC)]
    inner.answers["v6.example"] = ["2001:4860::9", "2001:4860::2"]
    assert await check_callback("http://v6.example/cb", resolver) == IPv6Address("2001:4860::2")
    assert inner.calls[-1] == ("v6.example", 80, socket.AF_UNSPEC)


async def test_a_literal_counts_against_itself_without_a_lookup() -> None:
    inner = TableResolver({})
    resolver = GuardedResolver(False, inner)
    assert await check_callback("http://[::ffff:8.8.8.8]/cb", resolver) == IPv4Address("8.8.8.8")
    assert await check_callback("http://8.8.4.4/cb", resolver) == IPv4Address("8.8.4.4")
    assert inner.calls == []


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ([], "hub.callback: gone.example does not resolve (no address)"),
        (
            OSError("Name or service not known"),
            "hub.callback: gone.example does not resolve (Name or service not known)",
        ),
        (TimeoutError(), "hub.callback: gone.example does not resolve (timeout)"),
    ],
)
async def test_a_name_that_does_not_resolve_is_refused(
    answer: list[str] | Exception, message: str
) -> None:
    resolver = GuardedResolver(False, TableResolver({"gone.example": answer}))
    with pytest.raises(Refused) as caught:
        await check_callback("http://gone.example/cb", resolver)
    assert str(caught.value) == message


async def test_allow_private_resolves_without_refusing_and_close_reaches_the_inner() -> None:
    inner = TableResolver({"lan.example": ["10.0.0.7"]})
    allowed = GuardedResolver(True, inner)
    assert [r["host"] for r in await allowed.resolve("lan.example", 80)] == ["10.0.0.7"]
    assert await check_callback("http://lan.example/cb", allowed) == IPv4Address("10.0.0.7")
    guarded = GuardedResolver(False, inner)
    with pytest.raises(
        Refused, match=re.escape("lan.example resolves to 10.0.0.7, a private address")
    ):
        await guarded.resolve("lan.example", 80)
    with pytest.raises(Refused, match=re.escape("lan.example resolves to 10.0.0.7")):
        await check_callback("http://lan.example/cb", guarded)
    await guarded.close()
    assert inner.closed


async def test_a_resolver_that_never_answers_is_refused_as_a_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(guard, "RESOLVE_TIMEOUT", 0.05)
    resolver = GuardedResolver(False, TableResolver({"slow.example": None}))
    with pytest.raises(Refused) as caught:
        await asyncio.wait_for(check_callback("http://slow.example/cb", resolver), 10)
    assert str(caught.value) == "hub.callback: slow.example does not resolve (timeout)"


async def test_private_literals_count_against_themselves_when_allowed() -> None:
    inner = TableResolver({"lan.example": ["10.0.0.7"]})
    resolver = GuardedResolver(True, inner)
    assert await check_callback("http://10.0.0.7/cb", resolver) == IPv4Address("10.0.0.7")
    assert await check_callback("http://[::1]:8080/cb", resolver) == IPv6Address("::1")
    assert [r["port"] for r in await resolver.resolve("lan.example")] == [0]  # no port given
    assert inner.calls[-1] == ("lan.example", 0, socket.AF_INET)
