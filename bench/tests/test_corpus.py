"""The benchmark corpus generator makes posts of the sample's shape, deterministically."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import frontmatter
import pytest

from bench.corpus import ADV_KINDS, MANIFEST, POSTS, generate
from tests.envs import clean_env

N = 600  # six adversarial posts: one of each kind
REPO = Path(__file__).resolve().parents[2]
# The reference generator lives beside a checkout in ../shared; a user's clone has none.
_REFERENCE = REPO.parent / "shared" / "corpus" / "make_corpus.py"
REFERENCE = _REFERENCE if _REFERENCE.is_file() else None
FILE_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})-nw(\d{8})(\d{10})\.md$")
DATE = re.compile(r"^date: (\d{4}-\d{2}-\d{2}) \d{2}:\d{2}:\d{2}( \+0800)?$", re.M)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    generate(out, N, k=12, seed=7)
    return out


def files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_posts_have_the_sample_shape(corpus: Path) -> None:
    manifest = json.loads((corpus / MANIFEST).read_text(encoding="utf-8"))
    adversarial = {a["file"]: a["kind"] for a in manifest["adversarial"]}
    slugs = {c["slug"] for c in manifest["categories"]}
    posts = sorted((corpus / POSTS).iterdir())
    assert len(posts) == N
    for path in posts:
        name = FILE_NAME.match(path.name)
        assert name, path.name
        text = path.read_text(encoding="utf-8")
        assert text.startswith('---\nlayout: post\ntitle: "')
        assert not text.endswith("\n")
        date = DATE.search(text)
        assert date and date.group(1) == name.group(1)
        assert name.group(1).replace("-", "") == name.group(2)
        assert (date.group(2) is None) == (adversarial.get(path.name) == "date_no_tz")
        assert f"infoCode=NW{name.group(2)}{name.group(3)}>" in text
        assert "<p>" in text and '<p class="em_media">（文章来源：' in text
        if adversarial.get(path.name) in ("ctrl_body", "ctrl_title"):
            assert re.search("[\x01\x0b\x0c\x1f]", text)
            continue
        assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f]", text)
        meta = frontmatter.loads(text).metadata
        assert meta["layout"] == "post" and meta["title"]
        cats = meta.get("categories", meta.get("category"))
        cats = cats.split() if isinstance(cats, str) else cats
        assert cats and set(cats) <= slugs
        tags = meta["tags"].split()
        assert 1 <= len(tags) <= 3 and tags[0].endswith("新闻")


def test_one_percent_adversarial_of_every_kind(corpus: Path) -> None:
    manifest = json.loads((corpus / MANIFEST).read_text(encoding="utf-8"))
    kinds = Counter(a["kind"] for a in manifest["adversarial"])
    assert set(kinds) == set(ADV_KINDS)
    assert sum(kinds.values()) == N // 100
    posts_dir = corpus / POSTS
    for entry in manifest["adversarial"]:
        text = (posts_dir / entry["file"]).read_text(encoding="utf-8")
        expected = {
            "ctrl_title": 'title: "',
            "title_markup": "<script>x</script>",
            "cat_list": "categories:\n  - ",
            "cat_singular": "\ncategory: ",
        }
        if entry["kind"] in expected:
            assert expected[entry["kind"]] in text
        if entry["kind"] == "ctrl_title":
            assert "\x0b" in text.split("\n")[2]


def test_category_sizes_follow_zipf_and_add_up(corpus: Path) -> None:
    manifest = json.loads((corpus / MANIFEST).read_text(encoding="utf-8"))
    sizes = [c["posts"] for c in manifest["categories"]]
    first = manifest["categories"][0]
    assert (first["slug"], first["name"]) == ("shamenwanbao", "厦门晚报")
    cat_lists = sum(1 for a in manifest["adversarial"] if a["kind"] == "cat_list")
    assert sum(sizes) == N + cat_lists
    assert sizes[0] == max(sizes) and sizes[0] > 3 * sizes[-1]


def test_same_seed_same_bytes_other_seed_other_posts(corpus: Path, tmp_path: Path) -> None:
    generate(tmp_path / "again", N, k=12, seed=7)
    assert files(tmp_path / "again") == files(corpus)
    generate(tmp_path / "other", N, k=12, seed=8)
    assert files(tmp_path / "other" / POSTS) != files(corpus / POSTS)


def test_cli_writes_a_corpus(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    subprocess.run(
        [sys.executable, "-m", "bench.corpus", str(out), "25", "--categories", "3"],
        cwd=REPO,
        check=True,
        capture_output=True,
        env=clean_env(),
    )
    assert len(list((out / POSTS).iterdir())) == 25
    assert json.loads((out / MANIFEST).read_text(encoding="utf-8"))["k"] == 3


@pytest.mark.skipif(REFERENCE is None, reason="reference generator (../shared) not present")
def test_byte_for_byte_equal_to_the_reference_generator(tmp_path: Path) -> None:
    ref = tmp_path / "reference"
    subprocess.run(
        [sys.executable, str(REFERENCE), str(ref), "250", "--categories", "9", "--seed", "3"],
        check=True,
        capture_output=True,
        env=clean_env(),
    )
    generate(tmp_path / "ours", 250, k=9, seed=3)
    assert files(tmp_path / "ours") == files(ref)
