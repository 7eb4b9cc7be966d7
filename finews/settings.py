"""Settings: config/default.toml is the schema, a file and FINEWS_* variables override it.

The defaults file lists every key; a value's type there is the type an override must
have. Keeping the schema in one commented TOML file means operators read exactly what
the code checks, and there is no second list of keys to drift from it.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# A link to config/default.toml in a checkout, the file itself in an installed wheel.
DEFAULTS_FILE = Path(__file__).resolve().parent / "default.toml"
ENV_PREFIX = "FINEWS_"
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


class SettingsError(Exception):
    """A bad setting: the message names the key or file and what was expected."""


class Section(SimpleNamespace):
    """One read-only [section]: `settings.api.keys`, or `settings["api"]["keys"]`.

    Not a Mapping: key names such as `keys` or `items` must not meet Mapping's methods.
    """

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def __contains__(self, key: str) -> bool:
        return key in vars(self)

    def __iter__(self) -> Iterator[str]:
        return iter(vars(self))

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"settings are read-only: {key}")


class Settings(Mapping[str, Section]):
    """All sections; `settings.redis.url`, or `settings["redis"]["url"]`."""

    def __init__(self, data: dict[str, dict[str, Any]], sources: list[str]) -> None:
        self._sections = {name: Section(**values) for name, values in data.items()}
        self.sources = sources

    def __getattr__(self, name: str) -> Section:
        try:
            return self._sections[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Section:
        return self._sections[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sections)

    def __len__(self) -> int:
        return len(self._sections)

    def replace(self, **changes: Any) -> Settings:
        """A copy with `section__key=value` changes, checked like any override."""
        data = {name: dict(vars(section)) for name, section in self._sections.items()}
        for dotted, value in changes.items():
            section, _, key = dotted.partition("__")
            _merge(data, {section: {key: value}}, "override")
        _validate(data)
        return Settings(data, self.sources)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.site.timezone)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise SettingsError(f"config file {path}: not found") from None
    except OSError as exc:
        raise SettingsError(f"config file {path}: cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path}: not valid TOML ({exc})") from None


def _type_name(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "a list of strings", dict: 'a table of strings (name = "value")'}
    return names.get(type(value), type(value).__name__)


def _coerce(key: str, default: Any, value: Any, origin: str) -> Any:
    """Check `value` against the default's type; strings from the environment are parsed."""
    expected = _type_name(default)
    if isinstance(value, str) and origin == "environment" and not isinstance(default, str):
        text = value.strip()
        try:
            if isinstance(default, bool):
                if text.lower() in TRUE_WORDS:
                    return True
                if text.lower() in FALSE_WORDS:
                    return False
                raise ValueError
            if isinstance(default, int):
                return int(text)
            if isinstance(default, float):
                return float(text)
            if isinstance(default, list):
                return [item.strip() for item in text.split(",") if item.strip()]
            if isinstance(default, dict):
                pairs = [item.partition("=") for item in text.split(",") if item.strip()]
                if any(not sep for _, sep, _ in pairs):
                    raise ValueError
                return {k.strip(): v.strip() for k, _, v in pairs}
        except ValueError:
            raise SettingsError(f"{key}: expected {expected}, got {value!r} ({origin})") from None
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(value, bool) and isinstance(default, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float))
        value = float(value) if ok else value
    elif isinstance(default, list):
        ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
    elif isinstance(default, dict):
        ok = isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise SettingsError(f"{key}: expected {expected}, got {value!r} ({origin})")
    return value


def _merge(data: dict[str, dict[str, Any]], overrides: Mapping[str, Any], origin: str) -> None:
    for section, values in overrides.items():
        if section not in data:
            raise SettingsError(f"{section}: unknown section ({origin}); known: {', '.join(data)}")
        if not isinstance(values, Mapping):
            raise SettingsError(f"{section}: expected a [section] table ({origin})")
        for key, value in values.items():
            if key not in data[section]:
                raise SettingsError(f"{section}.{key}: unknown key ({origin})")
            data[section][key] = _coerce(f"{section}.{key}", data[section][key], value, origin)


def _env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name or name == "FINEWS_CONFIG":
            continue
        section, _, key = name[len(ENV_PREFIX):].lower().partition("__")
        if not section or not key:
            raise SettingsError(f"{name}: expected FINEWS_<SECTION>__<KEY> (environment)")
        out.setdefault(section, {})[key] = value
    return out


def _check_url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "expected an absolute http(s) URL"
    return None


def _check_zone(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return "expected an IANA timezone such as Asia/Shanghai"
    return None


def _check_redis_url(value: str) -> str | None:
    if value and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
        return "expected empty (embedded server) or a redis://, rediss:// or unix:// URL"
    return None


def _check_pattern(*fields: str, url: bool = True,
                   optional: bool = False) -> Callable[[str], str | None]:
    """A check that a str.format pattern uses only the given {fields} (and makes a URL)."""
    def check(value: str) -> str | None:
        if optional and not value:
            return None
        sample = {name: "http://h" if name == "site" else "x" for name in fields}
        try:
            text = value.format(**sample)
        except (KeyError, IndexError, AttributeError, ValueError):
            return f"expected a pattern with only the fields {{{'}, {'.join(fields)}}}"
        return _check_url(text) if url else None
    return check


def _check_hosts(value: list[str]) -> str | None:
    bad = [h for h in value if not re.fullmatch(r"[a-z0-9.-]+(:\d{1,5})?|\[[0-9a-f:.]+\](:\d{1,5})?", h)]
    return f"expected lower-case host or host:port entries, not {bad[0]!r}" if bad else None


def _positive(value: float) -> str | None:
    return None if value > 0 else "expected a number above 0"


def _check_permalink(value: str) -> str | None:
    from feeds.permalink import (
        pattern_problem,  # here, not on top: feeds imports settings
    )
    return pattern_problem(value)


def _check_urls(values: list[str]) -> str | None:
    return next((f"{v}: {problem}" for v in values if (problem := _check_url(v))), None)


def _check_paths(values: list[str]) -> str | None:
    return None if all(v.startswith("/") for v in values) else "expected paths starting with /"


WEBSUB_POSITIVE = ("max_subscriptions_per_host", "lease_seconds", "min_lease_seconds",
                   "max_lease_seconds", "delivery_timeout", "max_response_bytes", "max_attempts",
                   "retry_delay", "retry_max_delay", "concurrency", "max_pending_verifications")


def _validators() -> dict[str, Callable[[Any], str | None]]:
    """Key -> check (None, or what was expected). Built per call rather than kept as a module
    constant so that `make mutation`, which mutates code inside functions only, reaches every
    bound below; settings are validated a handful of times per process."""
    return {
    "site.url": _check_url,
    "site.timezone": _check_zone,
    "server.port": lambda v: None if 0 <= v <= 65535 else "expected a port from 0 to 65535",
    "redis.url": _check_redis_url,
    **{f"posts.{key}": _positive for key in ("max_bytes", "max_front_matter_nodes")},
    **{f"redis.{key}": _positive for key in (
        "pool_size", "pool_timeout", "command_timeout", "breaker_interval")},
    "feeds.items_per_feed": lambda v: None if v >= 1 else "expected 1 or more",
    "feeds.max_age": lambda v: None if v >= 0 else "expected 0 or more seconds",
    "feeds.category_page": _check_pattern("site", "slug"),
    "feeds.tag_page": _check_pattern("site", "tag"),
    "feeds.hub": _check_pattern("site", optional=True),
    "feeds.description": _check_pattern("site", "name", url=False),
    "feeds.archive_cache": lambda v: None if v >= 0 else "expected 0 or more pages",
    "feeds.first_build_wait": lambda v: None if v > 0 else "expected more than 0 seconds",
    "server.workers": lambda v: None if 1 <= v <= 256 else "expected 1 to 256 workers",
    "server.shutdown_timeout": lambda v: None if v >= 0 else "expected 0 or more seconds",
    "server.header_timeout": lambda v: None if 0 < v <= 15 else "expected more than 0 and at "
    "most 15 seconds",
    "server.keepalive_timeout": _positive,
    "websub.topic_paths": _check_paths,
    "websub.publish_hubs": _check_urls,
    **{f"websub.{key}": _positive for key in WEBSUB_POSITIVE},
    "log.level": lambda v: None if v.upper() in ("DEBUG", "INFO", "WARNING", "ERROR")
    else "expected DEBUG, INFO, WARNING or ERROR",
    "shortlinks.prefix": lambda v: None if re.fullmatch(r"[A-Z]{1,8}", v)
    else "expected 1 to 8 uppercase letters A-Z",
    "shortlinks.redirect_status": lambda v: None if v in (301, 302, 307, 308)
    else "expected 301, 302, 307 or 308",
    "shortlinks.qr_error": lambda v: None if v in ("L", "M", "Q", "H")
    else "expected L, M, Q or H",
    "shortlinks.allowed_hosts": _check_hosts,
    "shortlinks.sources_max": _positive,
    **{f"shortlinks.{key}": _positive for key in (
        "cache_size", "cache_ttl", "visit_flush_interval", "visit_batch", "visit_queue_max",
        "repeat_window", "qr_scale", "qr_max_scale", "api_body_max", "rate_create_per_key",
        "rate_create_per_address", "rate_scan_per_address", "rate_window", "claim_attempts")},
    "feeds.permalink": _check_permalink,
    "feeds.summary_length": lambda v: None if v > 0 else "expected a positive integer",
    "feeds.parse_workers": lambda v: None if v >= 0 else "expected 0 (one per CPU) or more",
    "feeds.role": lambda v: None if v in ("builder", "follower")
    else "expected builder or follower",
    "feeds.watch_debounce": lambda v: None if v >= 1 else "expected 1 or more milliseconds",
}


def _validate(data: dict[str, dict[str, Any]]) -> None:
    for dotted, check in _validators().items():
        section, key = dotted.split(".")
        problem = check(data[section][key])
        if problem:
            raise SettingsError(f"{dotted}: {problem}, got {data[section][key]!r}")
    if not data["websub"]["enabled"] and data["feeds"]["hub"] == "{site}/websub":
        raise SettingsError("feeds.hub: names the built-in hub, which websub.enabled = false "
                            'turns off; set feeds.hub = "" or an external hub URL')


def load(config_file: str | os.PathLike[str] | None = None,
         env: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then the config file (argument or FINEWS_CONFIG), then FINEWS_* variables."""
    env = os.environ if env is None else env
    data = _read_toml(DEFAULTS_FILE)
    sources = [str(DEFAULTS_FILE)]
    config_file = config_file or env.get("FINEWS_CONFIG") or None
    if config_file:
        path = Path(config_file)
        _merge(data, _read_toml(path), f"file {path}")
        sources.append(str(path))
    _merge(data, _env_overrides(env), "environment")
    _validate(data)
    return Settings(data, sources)
