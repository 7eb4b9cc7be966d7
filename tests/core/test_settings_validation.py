"""Every settings check at its boundary, and the one-line error that names the key.

An operator who mistypes a value must get a message naming the key, what was expected and
what was given; a value just inside a limit must start the service. Overrides go through
`Settings.replace` and `load(env=...)`, the same path a config file and FINEWS_* take.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from finews.config import load
from finews.core.settings import DEFAULTS_FILE, SettingsError

POSITIVE = [
    "posts.max_bytes",
    "posts.max_front_matter_nodes",
    "redis.pool_size",
    "redis.pool_timeout",
    "redis.command_timeout",
    "redis.breaker_interval",
    "server.keepalive_timeout",
    "shortlinks.sources_max",
    "shortlinks.cache_size",
    "shortlinks.cache_ttl",
    "shortlinks.visit_flush_interval",
    "shortlinks.visit_batch",
    "shortlinks.visit_queue_max",
    "shortlinks.repeat_window",
    "shortlinks.qr_scale",
    "shortlinks.qr_max_scale",
    "shortlinks.api_body_max",
    "shortlinks.rate_create_per_key",
    "shortlinks.rate_create_per_address",
    "shortlinks.rate_scan_per_address",
    "shortlinks.rate_window",
    "shortlinks.claim_attempts",
    "shortlinks.replica_wait",
    "websub.max_subscriptions_per_host",
    "websub.lease_seconds",
    "websub.min_lease_seconds",
    "websub.max_lease_seconds",
    "websub.delivery_timeout",
    "websub.max_response_bytes",
    "websub.max_attempts",
    "websub.retry_delay",
    "websub.retry_max_delay",
    "websub.concurrency",
    "websub.max_pending_verifications",
]


def with_value(dotted: str, value: Any) -> Any:
    """The setting `dotted` after overriding it with `value` (SettingsError if refused)."""
    section, key = dotted.split(".")
    return load(env={}).replace(**{f"{section}__{key}": value})[section][key]


def refusal(dotted: str, value: Any) -> str:
    with pytest.raises(SettingsError) as caught:
        with_value(dotted, value)
    return str(caught.value)


@pytest.mark.parametrize("dotted", POSITIVE)
def test_each_positive_setting_refuses_zero_and_negative_and_takes_the_smallest_step(
    dotted: str,
) -> None:
    default = with_value(dotted, load(env={})[dotted.split(".")[0]][dotted.split(".")[1]])
    zero, negative, small = (0.0, -1.0, 0.001) if isinstance(default, float) else (0, -1, 1)
    for bad in (zero, negative):
        assert refusal(dotted, bad) == f"{dotted}: expected a number above 0, got {bad!r}"
    assert with_value(dotted, small) == small


@pytest.mark.parametrize(
    ("dotted", "good", "bad", "message"),
    [
        ("server.port", [0, 1, 8080, 65535], [-1, 65536, 99999], "expected a port from 0 to 65535"),
        ("server.workers", [1, 2, 255, 256], [0, -1, 257], "expected 1 to 256 workers"),
        ("server.shutdown_timeout", [0.0, 0.5, 30.0], [-0.001, -1.0], "expected 0 or more seconds"),
        (
            "server.header_timeout",
            [0.001, 1.0, 15.0],
            [0.0, -1.0, 15.001, 60.0],
            "expected more than 0 and at most 15 seconds",
        ),
        ("feeds.items_per_feed", [1, 2, 500], [0, -1], "expected 1 or more"),
        ("feeds.max_age", [0, 1, 86400], [-1], "expected 0 or more seconds"),
        ("feeds.archive_cache", [0, 1, 4096], [-1], "expected 0 or more pages"),
        ("feeds.first_build_wait", [0.001, 30.0], [0.0, -1.0], "expected more than 0 seconds"),
        ("feeds.summary_length", [1, 140], [0, -1], "expected a positive integer"),
        ("feeds.parse_workers", [0, 1, 64], [-1], "expected 0 (one per CPU) or more"),
        ("feeds.watch_debounce", [1, 300], [0, -1], "expected 1 or more milliseconds"),
        (
            "feeds.role",
            ["auto", "builder", "follower"],
            ["leader", "Builder", ""],
            "expected auto, builder or follower",
        ),
        ("feeds.lease_seconds", [0.1, 10.0], [0.0, -1.0], "expected more than 0 seconds"),
        (
            "log.level",
            ["DEBUG", "INFO", "WARNING", "ERROR", "debug", "Warning"],
            ["TRACE", "CRITICAL", "WARN", ""],
            "expected DEBUG, INFO, WARNING or ERROR",
        ),
        (
            "shortlinks.prefix",
            ["NW", "A", "ABCDEFGH"],
            ["", "ABCDEFGHI", "nw", "N1", "N-W", "ÄB"],
            "expected 1 to 8 uppercase letters A-Z",
        ),
        (
            "shortlinks.redirect_status",
            [301, 302, 307, 308],
            [200, 300, 303, 304, 309],
            "expected 301, 302, 307 or 308",
        ),
        (
            "shortlinks.qr_error",
            ["L", "M", "Q", "H"],
            ["l", "h", "X", "", "LM"],
            "expected L, M, Q or H",
        ),
        (
            "site.url",
            ["http://news.example.cn", "https://x", "https://news.example.cn:8443/base"],
            [
                "news.example.cn",
                "ftp://news.example.cn",
                "https://",
                "http:///path",
                "",
                "/relative",
            ],
            "expected an absolute http(s) URL",
        ),
        (
            "site.timezone",
            ["UTC", "Asia/Kolkata", "America/St_Johns"],
            ["Mars/Olympus", "", "../etc/passwd", "Asia/"],
            "expected an IANA timezone such as Asia/Shanghai",
        ),
        (
            "redis.url",
            [
                "",
                "redis://127.0.0.1:6379/0",
                "rediss://cache.internal:6380",
                "unix:///run/valkey.sock",
            ],
            ["http://127.0.0.1:6379", "127.0.0.1:6379", "valkey://h"],
            "expected empty (embedded server) or a redis://, rediss:// or unix:// URL",
        ),
        (
            "websub.topic_paths",
            [[], ["/feeds/"], ["/feeds/", "/feeds.opml"]],
            [["feeds/"], ["/feeds/", "feeds.opml"]],
            "expected paths starting with /",
        ),
    ],
)
def test_boundaries_and_messages(
    dotted: str, good: list[Any], bad: list[Any], message: str
) -> None:
    for value in good:
        assert with_value(dotted, value) == value
    for value in bad:
        assert refusal(dotted, value) == f"{dotted}: {message}, got {value!r}"


FIELDS = {
    "feeds.category_page": "{site}, {slug}",
    "feeds.tag_page": "{site}, {tag}",
    "feeds.hub": "{site}",
    "feeds.description": "{site}, {name}",
}


@pytest.mark.parametrize(
    ("dotted", "value"),
    [
        ("feeds.category_page", "{site}/c/{slug}"),
        ("feeds.category_page", "https://cdn.example.cn/{slug}.html"),
        ("feeds.tag_page", "{site}/t/{tag}"),
        ("feeds.tag_page", "{site}/tags.html#{tag}"),
        ("feeds.hub", ""),
        ("feeds.hub", "{site}/websub"),
        ("feeds.hub", "https://pubsubhubbub.appspot.com/"),
        ("feeds.description", "{name}"),
        ("feeds.description", "{site}「{name}」"),
        ("feeds.description", "最新文章"),
    ],
)
def test_patterns_with_their_own_fields_are_taken(dotted: str, value: str) -> None:
    assert with_value(dotted, value) == value


@pytest.mark.parametrize(
    ("dotted", "value"),
    [
        ("feeds.category_page", "{site}/c/{tag}"),  # the other page's field
        ("feeds.category_page", "{site}/c/{name}"),
        ("feeds.category_page", "{site}/c/{0}"),
        ("feeds.category_page", "{site.host}/c/{slug}"),
        ("feeds.category_page", "{site}/c/{slug"),
        ("feeds.tag_page", "{site}/t/{slug}"),
        ("feeds.hub", "{slug}"),
        ("feeds.hub", "{site}/{tag}"),
        ("feeds.description", "{slug}"),
        ("feeds.description", "{site}{tag}"),
        ("feeds.description", "}{"),
    ],
)
def test_patterns_with_unknown_fields_name_the_allowed_ones(dotted: str, value: str) -> None:
    assert refusal(dotted, value) == (
        f"{dotted}: expected a pattern with only the fields {FIELDS[dotted]}, got {value!r}"
    )


@pytest.mark.parametrize(
    ("dotted", "value"),
    [
        ("feeds.category_page", ""),  # only the hub may be empty
        ("feeds.tag_page", ""),
        ("feeds.category_page", "{slug}"),  # a slug is no site
        ("feeds.tag_page", "{tag}/{site}"),
        ("feeds.category_page", "/category/{slug}.html"),
        ("feeds.tag_page", "tag/{tag}.html"),
        ("feeds.hub", "/websub"),
        ("feeds.hub", "ftp://hub.example/{site}"),
    ],
)
def test_patterns_that_make_no_absolute_url_are_refused(dotted: str, value: str) -> None:
    assert refusal(dotted, value) == f"{dotted}: expected an absolute http(s) URL, got {value!r}"


def test_publish_hubs_name_the_bad_entry() -> None:
    good = ["https://pubsubhubbub.appspot.com/", "http://hub.example:8080/hub"]
    assert with_value("websub.publish_hubs", good) == good
    assert with_value("websub.publish_hubs", []) == []
    bad = ["https://pubsubhubbub.appspot.com/", "hub.example", "ftp://x"]
    assert refusal("websub.publish_hubs", bad) == (
        f"websub.publish_hubs: hub.example: expected an absolute http(s) URL, got {bad!r}"
    )


@pytest.mark.parametrize(
    "hosts",
    [
        [],
        ["news.example.cn"],
        ["news.example.cn:8443", "127.0.0.1", "localhost:8080"],
        ["[::1]", "[::1]:8080", "[2001:db8::1]:443", "[::ffff:127.0.0.1]"],
        ["xn--fiqs8s.cn"],
        ["a:65535"],
    ],
)
def test_allowed_hosts_take_lower_case_hosts_with_optional_ports(hosts: list[str]) -> None:
    assert with_value("shortlinks.allowed_hosts", hosts) == hosts


@pytest.mark.parametrize(
    ("hosts", "first_bad"),
    [
        (["News.Example.cn"], "News.Example.cn"),
        (["news.example.cn", "https://news.example.cn"], "https://news.example.cn"),
        (["news.example.cn/path"], "news.example.cn/path"),
        (["news.example.cn:123456"], "news.example.cn:123456"),
        (["news.example.cn:"], "news.example.cn:"),
        (["::1"], "::1"),
        (["[::1]:"], "[::1]:"),
        (["[::1"], "[::1"),
        (["[g::1]"], "[g::1]"),
        (["a b", "C"], "a b"),
        ([""], ""),
    ],
)
def test_allowed_hosts_name_the_first_bad_entry(hosts: list[str], first_bad: str) -> None:
    assert refusal("shortlinks.allowed_hosts", hosts) == (
        f"shortlinks.allowed_hosts: expected lower-case host or host:port entries, "
        f"not {first_bad!r}, got {hosts!r}"
    )


def test_an_unknown_permalink_placeholder_names_the_key() -> None:
    assert refusal("feeds.permalink", "/:nope/:title/").startswith("feeds.permalink: ")
    assert (
        with_value("feeds.permalink", "/:categories/:year/:title/") == "/:categories/:year/:title/"
    )


def test_the_built_in_hub_needs_websub_enabled() -> None:
    base = load(env={})
    with pytest.raises(SettingsError) as caught:
        base.replace(websub__enabled=False)
    assert str(caught.value) == (
        "feeds.hub: names the built-in hub, which websub.enabled = false turns off; "
        'set feeds.hub = "" or an external hub URL'
    )
    assert base.replace(websub__enabled=False, feeds__hub="").feeds.hub == ""
    external = "https://pubsubhubbub.appspot.com/"
    assert base.replace(websub__enabled=False, feeds__hub=external).feeds.hub == external
    assert base.replace(websub__enabled=True).feeds.hub == "{site}/websub"


# -- types, from a file and from the environment


@pytest.mark.parametrize(
    ("dotted", "value", "expected"),
    [
        ("server.port", "80", "an integer"),
        ("server.port", True, "an integer"),
        ("server.port", 80.0, "an integer"),
        ("server.header_timeout", "10", "a number"),
        ("server.header_timeout", False, "a number"),
        ("log.access", 1, "a boolean"),
        ("log.access", "yes", "a boolean"),
        ("site.name", 5, "a string"),
        ("api.keys", "k1", "a list of strings"),
        ("api.keys", ["k1", 2], "a list of strings"),
        ("feeds.category_names", ["a"], 'a table of strings (name = "value")'),
        ("feeds.category_names", {"a": 1}, 'a table of strings (name = "value")'),
        ("feeds.category_names", {1: "a"}, 'a table of strings (name = "value")'),
    ],
)
def test_a_value_of_the_wrong_type_names_key_type_and_origin(
    dotted: str, value: Any, expected: str
) -> None:
    assert refusal(dotted, value) == f"{dotted}: expected {expected}, got {value!r} (override)"


def test_an_integer_is_a_number_where_a_number_is_expected() -> None:
    timeout = with_value("server.header_timeout", 5)
    assert timeout == 5.0 and isinstance(timeout, float)


@pytest.mark.parametrize(
    ("word", "value"),
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        (" on ", True),
        ("0", False),
        ("False", False),
        ("no", False),
        ("OFF", False),
    ],
)
def test_environment_booleans(word: str, value: bool) -> None:
    assert load(env={"FINEWS_LOG__ACCESS": word}).log.access is value


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("FINEWS_SERVER__PORT", " 9000 ", 9000),
        ("FINEWS_SERVER__HEADER_TIMEOUT", "2.5", 2.5),
        ("FINEWS_SERVER__HEADER_TIMEOUT", "3", 3.0),
        ("FINEWS_SITE__NAME", " 厦门 ", " 厦门 "),  # strings are taken as given
        ("FINEWS_API__KEYS", "k1, k2,,", ["k1", "k2"]),
        ("FINEWS_API__KEYS", "", []),
        ("FINEWS_FEEDS__CATEGORY_NAMES", "a = 甲 ,b=乙=丙", {"a": "甲", "b": "乙=丙"}),
        ("FINEWS_FEEDS__CATEGORY_NAMES", "", {}),
    ],
)
def test_environment_values_are_parsed_to_the_default_type(
    name: str, text: str, expected: Any
) -> None:
    section, key = name.removeprefix("FINEWS_").lower().split("__")
    assert load(env={name: text})[section][key] == expected


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("FINEWS_LOG__ACCESS", "maybe", "a boolean"),
        ("FINEWS_LOG__ACCESS", "", "a boolean"),
        ("FINEWS_SERVER__PORT", "8080.0", "an integer"),
        ("FINEWS_SERVER__HEADER_TIMEOUT", "soon", "a number"),
        ("FINEWS_FEEDS__CATEGORY_NAMES", "a=甲,b", 'a table of strings (name = "value")'),
    ],
)
def test_bad_environment_values_name_key_and_origin(name: str, text: str, expected: str) -> None:
    dotted = name.removeprefix("FINEWS_").lower().replace("__", ".")
    with pytest.raises(SettingsError) as caught:
        load(env={name: text})
    assert str(caught.value) == f"{dotted}: expected {expected}, got {text!r} (environment)"


def test_environment_names_that_are_not_overrides_are_ignored() -> None:
    env = {
        "FINEWS_CONFIG": "",
        "FINEWS_DEBUG": "1",
        "PATH": "/bin",
        "finews_server__port": "1",
        "OTHER_SERVER__PORT": "1",
    }
    assert load(env=env).server.port == 8080


@pytest.mark.parametrize("name", ["FINEWS___PORT", "FINEWS_SERVER__"])
def test_an_environment_name_without_section_or_key_is_named(name: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(env={name: "1"})
    assert str(caught.value) == f"{name}: expected FINEWS_<SECTION>__<KEY> (environment)"


def test_an_environment_name_splits_at_its_first_double_underscore() -> None:
    with pytest.raises(SettingsError) as caught:
        load(env={"FINEWS_SERVER__PORT__X": "80"})
    assert str(caught.value) == "server.port__x: unknown key (environment)"


def test_without_an_env_argument_the_process_environment_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FINEWS_CONFIG", raising=False)
    monkeypatch.setenv("FINEWS_SERVER__PORT", "9123")
    assert load().server.port == 9123


def test_unknown_keys_and_sections_are_named_with_their_origin(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text("[sever]\nport = 80\n")
    with pytest.raises(SettingsError) as caught:
        load(config, env={})
    message = str(caught.value)
    assert message.startswith(f"sever: unknown section (file {config}); known: site, posts, ")
    config.write_text("server = 80\n")
    with pytest.raises(SettingsError, match=r"^server: expected a \[section\] table \(file "):
        load(config, env={})
    with pytest.raises(SettingsError) as caught:
        load(env={"FINEWS_SERVER__PROT": "80"})
    assert str(caught.value) == "server.prot: unknown key (environment)"


def test_config_files_that_cannot_be_read_are_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load(tmp_path, env={})
    assert str(caught.value) == f"config file {tmp_path}: cannot read (Is a directory)"
    missing = tmp_path / "missing.toml"
    with pytest.raises(SettingsError) as caught:
        load(env={"FINEWS_CONFIG": str(missing)})
    assert str(caught.value) == f"config file {missing}: not found"
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\n")
    with pytest.raises(SettingsError, match=rf"^config file {broken}: not valid TOML \(.+\)$"):
        load(broken, env={})


def test_the_environment_overrides_the_file_and_sources_are_listed(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text("[server]\nport = 9000\nworkers = 2\n")
    settings = load(env={"FINEWS_CONFIG": str(config), "FINEWS_SERVER__PORT": "9100"})
    assert (settings.server.port, settings.server.workers) == (9100, 2)
    assert settings.sources == [str(DEFAULTS_FILE), str(config)]
    assert settings.replace(server__workers=3).sources == settings.sources
    assert load(env={"FINEWS_CONFIG": ""}).sources[1:] == []


def test_settings_read_like_a_mapping_and_stay_read_only() -> None:
    settings = load(env={})
    assert settings["server"]["port"] == settings.server.port == 8080
    assert "port" in settings.server and "nope" not in settings.server
    assert "server" in list(settings) and len(settings) == len(list(settings))
    assert "port" in list(settings.server)
    with pytest.raises(AttributeError, match="settings are read-only: port"):
        settings.server.port = 1
    with pytest.raises(AttributeError, match=r"^nope$"):
        settings.nope  # noqa: B018
    with pytest.raises(KeyError):
        settings["nope"]
    assert settings.zone == ZoneInfo("Asia/Shanghai")
    changed = settings.replace(server__port=9000)
    assert (changed.server.port, settings.server.port) == (9000, 8080)
