"""Settings: defaults, file and environment overrides, and one-line errors with exit 2."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from finews.config import load
from finews.core.settings import DEFAULTS_FILE, SettingsError
from tests.envs import clean_env


def test_defaults_have_the_documented_keys() -> None:
    settings = load(env={})
    assert settings.site.timezone == "Asia/Shanghai"
    assert settings.site.language == "zh-CN"
    assert settings.redis.url == ""
    assert settings.api.keys == []
    for dotted in ("site.url", "site.name", "posts.dir", "data.dir", "server.host", "server.port"):
        section, key = dotted.split(".")
        assert key in settings[section]


def test_every_default_key_is_commented() -> None:
    lines = DEFAULTS_FILE.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if re.match(r"^[a-z_]+ = ", line):
            assert lines[number - 1].startswith("#"), f"line {number + 1} ({line}) has no comment"


def test_file_then_environment_override(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text('[site]\nname = "厦门新闻"\n[server]\nport = 9000\n', encoding="utf-8")
    env = {
        "FINEWS_SERVER__PORT": "9100",
        "FINEWS_POSTS__DIR": "/srv/posts",
        "FINEWS_API__KEYS": "k1, k2,",
        "FINEWS_LOG__ACCESS": "no",
    }
    settings = load(config, env=env)
    assert settings.site.name == "厦门新闻"
    assert settings.server.port == 9100
    assert settings.posts.dir == "/srv/posts"
    assert settings.api.keys == ["k1", "k2"]
    assert settings.log.access is False


def test_config_file_from_environment(tmp_path: Path) -> None:
    config = tmp_path / "env.toml"
    config.write_text('[site]\nurl = "https://news.example.cn"\n')
    assert load(env={"FINEWS_CONFIG": str(config)}).site.url == "https://news.example.cn"


@pytest.mark.parametrize(
    ("content", "env", "message"),
    [
        ('[server]\nport = "80"\n', {}, "server.port: expected an integer"),
        ("[server]\nprot = 80\n", {}, "server.prot: unknown key"),
        ("[sever]\nport = 80\n", {}, "sever: unknown section"),
        ("", {"FINEWS_SERVER__PORT": "eighty"}, "server.port: expected an integer"),
        ("", {"FINEWS_SITE__TIMEZONE": "Mars/Olympus"}, "site.timezone: expected an IANA timezone"),
        ("", {"FINEWS_REDIS__URL": "http://x"}, "redis.url: expected empty"),
        ('[site]\nurl = "example.com"\n', {}, "site.url: expected an absolute http(s) URL"),
        ('[api]\nkeys = "secret"\n', {}, "api.keys: expected a list of strings"),
        ("[server\n", {}, "not valid TOML"),
        ("[websub]\nenabled = false\n", {}, "feeds.hub: names the built-in hub"),
    ],
)
def test_bad_settings_name_the_key(
    tmp_path: Path, content: str, env: dict[str, str], message: str
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(content)
    with pytest.raises(SettingsError, match=re.escape(message)):
        load(config, env=env)


def test_cli_exits_2_with_one_line_naming_the_problem(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    result = subprocess.run(
        [sys.executable, "-m", "finews", "check", "--config", str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"finews: settings error: config file {missing}: not found"
    ]
    result = subprocess.run(
        [sys.executable, "-m", "finews", "check"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"FINEWS_SERVER__PORT": "x", "PATH": ""},
    )
    assert result.returncode == 2
    assert "server.port: expected an integer" in result.stderr


def test_table_settings_from_file_and_environment(tmp_path: Path, monkeypatch) -> None:
    import finews.core.settings as module

    defaults = tmp_path / "defaults.toml"
    defaults.write_text(
        DEFAULTS_FILE.read_text(encoding="utf-8") + "\n[testing]\n# names\nnames = {}\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(module, "DEFAULTS_FILE", defaults)
    config = tmp_path / "site.toml"
    config.write_text('[testing.names]\nshamenwanbao = "厦门晚报"\n', encoding="utf-8")
    assert load(config, env={}).testing.names == {"shamenwanbao": "厦门晚报"}
    env = {"FINEWS_TESTING__NAMES": "a=甲, b=乙"}
    assert load(env=env).testing.names == {"a": "甲", "b": "乙"}
    with pytest.raises(SettingsError, match=re.escape("testing.names: expected a table")):
        load(env={"FINEWS_TESTING__NAMES": "novalue"})
