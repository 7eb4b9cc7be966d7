"""Commands packed by hiredis (finews/core/redis_client.HiredisPacking) are the bytes
redis-py's own packing sends, and what a client wrote reads back the same."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.exceptions import DataError

from finews.core.redis_client import connect, packing

ARGUMENT = st.one_of(
    st.text(),  # referrers, campaigns, titles: whatever a client sent
    st.binary(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.binary().map(bytearray),
    st.binary().map(memoryview),
)
# names of one word and of two (sent as two arguments), as text and as bytes
NAMES = ["SET", "EVALSHA", "SCRIPT LOAD", "CLIENT SETNAME", b"HSET", b"CONFIG GET"]


@settings(derandomize=True, max_examples=300, deadline=None)
@given(
    name=st.sampled_from(
        ["SET", "EVALSHA", "SCRIPT LOAD", "CLIENT SETNAME", b"HSET", b"CONFIG GET"]
    ),
    args=st.lists(ARGUMENT, max_size=20),
)
def test_hiredis_packing_sends_the_bytes_redis_py_would(name: Any, args: list[Any]) -> None:
    ours, theirs = packing(Connection)(), Connection()
    assert b"".join(ours.pack_command(name, *args)) == b"".join(theirs.pack_command(name, *args))
    commands = [(name, *args), ("PING",)]
    assert b"".join(ours.pack_commands(commands)) == b"".join(theirs.pack_commands(commands))


@pytest.mark.parametrize("bad", [None, True, object()])
def test_a_value_redis_has_no_form_for_is_a_data_error(bad: object) -> None:
    with pytest.raises(DataError):
        packing(Connection)().pack_command("SET", "k", bad)


def test_each_connection_kind_keeps_its_class_and_gets_the_packing_once() -> None:
    made = packing(UnixDomainSocketConnection)
    assert issubclass(made, UnixDomainSocketConnection)
    assert packing(UnixDomainSocketConnection) is made


async def test_what_a_client_wrote_reads_back_through_the_packed_connection(
    redis_url: str,
) -> None:
    client = await connect(redis_url)
    try:
        assert isinstance(client.connection_pool.connection_class, type)
        assert client.connection_pool.connection_class.__mro__[1].__name__ == "HiredisPacking"
        value = "民生 \x00\r\n$3\r\n" + "e\u0301" * 100
        await client.set("finews:test:packing", value)
        assert await client.get("finews:test:packing") == value
        await client.delete("finews:test:packing")
    finally:
        await client.aclose()
