"""The build's fast paths give what the slow ones gave: front matter read without libyaml
gives the same records, and pages rendered in worker processes the same bytes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.corpus import generate
from feeds import parse
from feeds.build import build_static
from finews.core.settings import Settings
from tests.conftest import SAMPLE_POSTS
from tests.feeds.test_hostile_posts import (
    BILLION_LAUGHS,
    FRIENDLY_ALIASES,
    GOOD,
    OUT_OF_RANGE,
    RECURSIVE,
)

# Front matter that looks simple but is not, or is simple with a typed value.
TRICKY = [
    "on: 1\ntitle: 键是布尔",
    "null: x\ntitle: 键是空",
    "title: a # 注释\ndate: 2022-05-24",
    "title: 'it''s'\ndate: 2022-05-24",
    'title: "转义 \\" 引号"\ndate: 2022-05-24',
    "title: 多行\n  续行\ndate: 2022-05-24",
    "title: =\ndate: 2022-05-24",
    "title: x\ndate: 2022-13-01",
    "title: x\ndate: 2022-05-24 10:00:00+08:00\npublished: false",
    "title: x\ndate: 2022-05-24\nslug: 0x1f\nid: .inf\nexcerpt: ~",
    "title: x\ndate: 2022-05-24\ncategories:\ntags: a b",
    "title: x:y\ndate: 2022-05-24\npermalink: /a/:title/",
    "title: x\ttab\ndate: 2022-05-24",
    "title: 星号 * 与 & 符号\ndate: 2022-05-24",
    "title: x\ndate: 2022-05-24\ntitle: 后写的",
    "title: x\n\n   \ndate: 2022-05-24",
    "- a\n- b",
    "just text",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small corpus from the bench generator (adversarial posts included), the sample
    posts, the hostile posts' front matter and the tricky front matter above."""
    root = tmp_path_factory.mktemp("corpus")
    generate(root, 300)
    posts = root / "_posts"
    for sample in (p for p in SAMPLE_POSTS.rglob("*") if p.is_file()):
        (posts / f"sample-{sample.name}").write_bytes(sample.read_bytes())
    fronts = [GOOD, BILLION_LAUGHS, RECURSIVE, FRIENDLY_ALIASES, *OUT_OF_RANGE.values(), *TRICKY]
    for number, front in enumerate(fronts):
        (posts / f"2022-05-24-front-{number}.md").write_text(
            f"---\n{front}\n---\n<p>正文。</p>\n", encoding="utf-8"
        )
    return posts


def takes_fast_path(path: Path) -> bool:
    try:
        head = parse._split_text(parse._decode(path.read_bytes()))[0]
        return parse._simple_mapping(head) is not None
    except ValueError:  # a date PyYAML's constructor refuses: read, and refused, fast
        return True


def records(posts: Path, config: parse.ReadConfig) -> Iterator[parse.Record]:
    for path in sorted(posts.iterdir()):
        yield parse.read_post(str(path), path.name, config)


def test_records_are_the_same_with_and_without_the_simple_front_matter_reader(
    corpus: Path, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = parse.ReadConfig.from_settings(
        make_settings(posts__dir=str(corpus), posts__max_front_matter_nodes=100)
    )
    fast = list(records(corpus, config))
    simple = sum(takes_fast_path(path) for path in corpus.iterdir())
    assert simple > 300  # the generated posts take the fast path
    monkeypatch.setattr(parse, "_simple_mapping", lambda head: None)
    assert fast == list(records(corpus, config))
    states = {record.state for record in fast}
    assert states == {parse.POST, parse.DRAFT, parse.PROBLEM}


_KEYS = st.sampled_from(["title", "date", "on", "Null", "tags", "a-b", "_x", "yes", "y"])
_VALUES = st.one_of(
    st.sampled_from(
        [
            *("", "~", "true", "No", "1", "-1", "0o17", "1_0", "1e3", ".nan", "=", "<<"),
            *("2020-01-02", "2020-01-02 03:04:05 +0800", "2020-01-02T03:04:05Z"),
            *("2020-1-2 3:04:05.5 -1", "a: b", "a:b", "a #b", "a#b", "'q'", '"q"', "'it''s'"),
            *('"\\t"', "[a, b]", "{a: 1}", "&a x", "*a", "!!str 1", "| x", "> x", "%x", "@x"),
            *("`x", "- x", "? x", "a  b  "),
        ]
    ),
    st.text(alphabet=st.sampled_from("a1 :#'\"-\\\t\x85\u2028民"), max_size=8),
)


@settings(derandomize=True, max_examples=400, deadline=None)
@given(st.lists(st.tuples(_KEYS, _VALUES, st.sampled_from(["", " ", "\n"])), max_size=5))
def test_the_simple_reader_gives_what_yaml_gives_or_leaves_it_to_yaml(
    lines: list[tuple[str, str, str]],
) -> None:
    head = "\n" + "".join(f"{key}: {value}{end}\n" for key, value, end in lines)
    try:
        simple = parse._simple_mapping(head)
    except ValueError as exc:  # a date PyYAML cannot construct: YAML must fail the same way
        with pytest.raises(type(exc)):
            yaml.load(head, Loader=yaml.CSafeLoader)
        return
    if simple is not None:
        assert simple == yaml.load(head, Loader=yaml.CSafeLoader)
        assert [type(v) for v in simple.values()] == [
            type(v) for v in yaml.load(head, Loader=yaml.CSafeLoader).values()
        ]


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_pages_rendered_in_worker_processes_are_the_same_bytes(
    corpus: Path, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    built = {}
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        report = build_static(
            make_settings(
                posts__dir=str(corpus),
                data__dir=str(tmp_path / f"data{workers}"),
                feeds__parse_workers=workers,
                feeds__items_per_feed=5,
            ),
            out,
            progress=False,
        )
        built[workers] = (report.pages, report.files, report.bytes, tree(out))
    assert built[1][0] > 40  # enough pages for the worker processes
    assert built[1] == built[2]
