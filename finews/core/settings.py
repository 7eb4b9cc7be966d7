"""Settings: config/default.toml is the schema, a file and FINEWS_* variables override it.

The defaults file lists every key; a value's type there is the type an override must
have. Keeping the schema in one commented TOML file means operators read exactly what
the code checks, and there is no second list of keys to drift from it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
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

    def __init__(
        self,
        data: dict[str, dict[str, Any]],
        sources: list[str],
        checks: Mapping[str, Check],
        rules: Sequence[Rule],
    ) -> None:
        self._sections = {name: Section(**values) for name, values in data.items()}
        self.sources = sources
        self.checks, self.rules = checks, rules  # what `replace` checks again

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
        _validate(data, self.checks, self.rules)
        return Settings(data, self.sources, self.checks, self.rules)

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
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list of strings",
        dict: 'a table of strings (name = "value")',
    }
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
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        )
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
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        if not section or not key:
            raise SettingsError(f"{name}: expected FINEWS_<SECTION>__<KEY> (environment)")
        out.setdefault(section, {})[key] = value
    return out


Check = Callable[[Any], "str | None"]
"""A value check: None when the value is good, else what was expected (named in the error)."""
Rule = Callable[[Mapping[str, Mapping[str, Any]]], "str | None"]
"""A check across keys, given every section: None, or the whole error message."""


def check_url(value: str) -> str | None:
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


def check_pattern(*fields: str, url: bool = True, optional: bool = False) -> Check:
    """A check that a str.format pattern uses only the given {fields} (and makes a URL)."""

    def check(value: str) -> str | None:
        if optional and not value:
            return None
        sample = {name: "http://h" if name == "site" else "x" for name in fields}
        try:
            text = value.format(**sample)
        except (KeyError, IndexError, AttributeError, ValueError):
            return f"expected a pattern with only the fields {{{'}, {'.join(fields)}}}"
        return check_url(text) if url else None

    return check


def positive(value: float) -> str | None:
    return None if value > 0 else "expected a number above 0"


def at_least(low: float, unit: str = "") -> Check:
    """A check that a number is `low` or more, `unit` naming what it counts."""
    expected = f"expected {low:g} or more" + (f" {unit}" if unit else "")
    return lambda value: None if value >= low else expected


def one_of(*allowed: object) -> Check:
    words = [str(a) for a in allowed]
    expected = ", ".join(words[:-1]) + " or " + words[-1]
    return lambda value: None if value in allowed else f"expected {expected}"


def check_urls(values: list[str]) -> str | None:
    return next((f"{v}: {problem}" for v in values if (problem := check_url(v))), None)


def core_checks() -> dict[str, Check]:
    """The checks of the sections every feature shares; each feature hands the loader the
    checks of its own. Built per call, not kept as a module constant, so that `make
    mutation` (which mutates code inside functions only) reaches every bound."""
    return {
        "site.url": check_url,
        "site.timezone": _check_zone,
        "server.port": lambda v: None if 0 <= v <= 65535 else "expected a port from 0 to 65535",
        "server.workers": lambda v: None if 1 <= v <= 256 else "expected 1 to 256 workers",
        "server.shutdown_timeout": at_least(0, "seconds"),
        "server.header_timeout": lambda v: (
            None if 0 < v <= 15 else "expected more than 0 and at most 15 seconds"
        ),
        "server.keepalive_timeout": positive,
        "redis.url": _check_redis_url,
        **{
            f"redis.{key}": positive
            for key in ("pool_size", "pool_timeout", "command_timeout", "breaker_interval")
        },
        "log.level": lambda v: (
            None
            if v.upper() in ("DEBUG", "INFO", "WARNING", "ERROR")
            else "expected DEBUG, INFO, WARNING or ERROR"
        ),
        "log.access_remote": lambda v: (
            None if v in ("full", "truncated", "none") else "expected full, truncated or none"
        ),
        "log.access_buffer": positive,
    }


def _validate(
    data: dict[str, dict[str, Any]], checks: Mapping[str, Check], rules: Sequence[Rule]
) -> None:
    for dotted, check in {**core_checks(), **checks}.items():
        section, key = dotted.split(".")
        problem = check(data[section][key])
        if problem:
            raise SettingsError(f"{dotted}: {problem}, got {data[section][key]!r}")
    for rule in rules:
        if problem := rule(data):
            raise SettingsError(problem)


def load(
    config_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    checks: Mapping[str, Check] | None = None,
    rules: Sequence[Rule] = (),
) -> Settings:
    """Defaults, then the config file (argument or FINEWS_CONFIG), then FINEWS_* variables;
    then core_checks, the features' `checks` and `rules` spanning several keys
    (finews.config.load passes all of them)."""
    env = os.environ if env is None else env
    data = _read_toml(DEFAULTS_FILE)
    sources = [str(DEFAULTS_FILE)]
    config_file = config_file or env.get("FINEWS_CONFIG") or None
    if config_file:
        path = Path(config_file)
        _merge(data, _read_toml(path), f"file {path}")
        sources.append(str(path))
    _merge(data, _env_overrides(env), "environment")
    checks = checks or {}
    _validate(data, checks, rules)
    return Settings(data, sources, checks, rules)
