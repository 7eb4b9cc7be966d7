"""The project's own corpus generator: synthetic Jekyll-style posts in the shape of the sample.

Usage: python -m bench.corpus OUTDIR N [--categories K] [--seed S]

Writes N posts to OUTDIR/_posts/YYYY-MM-DD-nw<yyyymmdd><10 digits>.md and
OUTDIR/corpus_manifest.json (category sizes, the adversarial files and their kinds).
Deterministic per (N, K, seed); the output is byte-for-byte that of the reference
generator the benchmarks were designed with, so figures stay comparable, but nothing
outside this repository is needed: the text comes from the shipped sample post.

Every post (the sample's own layout, a Xiamen Evening News article):
    ---
    layout: post
    title: "<Chinese title>"
    date: YYYY-MM-DD HH:MM:SS +0800
    categories: <ascii pinyin slug>
    tags: <Chinese tag>[ <tag2>[ <tag3>]]
    ---
    <p>...</p>  5-30 paragraphs, the last followed by the paper's source line, an
    autolinked share URL and two protocol-relative Markdown links (no final newline).

One post in every 100 is adversarial, the kind rotating through ADV_KINDS: raw control
characters in the body or the title, markup in the title, categories as a YAML list,
singular `category:`, a date without its offset. Category sizes follow Zipf's law.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SEED_POST = REPO / "content" / "posts" / "000_97745e72ec4a64ab.txt"
MANIFEST = "corpus_manifest.json"
POSTS = "_posts"

# pinyin syllable -> hanzi: category slugs and their Chinese paper names
SYLLABLES = [
    ("dong", "东"),
    ("nan", "南"),
    ("xi", "西"),
    ("bei", "北"),
    ("zhong", "中"),
    ("hai", "海"),
    ("shan", "山"),
    ("jiang", "江"),
    ("he", "河"),
    ("hu", "湖"),
    ("tian", "天"),
    ("jin", "金"),
    ("hua", "华"),
    ("min", "民"),
    ("xin", "新"),
    ("guang", "光"),
    ("ming", "明"),
    ("chang", "长"),
    ("an", "安"),
    ("ning", "宁"),
    ("ping", "平"),
    ("yang", "阳"),
    ("qing", "青"),
    ("long", "龙"),
    ("fu", "福"),
    ("quan", "泉"),
    ("zhang", "漳"),
    ("lu", "鹭"),
    ("jian", "建"),
    ("kai", "开"),
]
SUFFIXES = [
    ("ribao", "日报"),
    ("wanbao", "晚报"),
    ("shangbao", "商报"),
    ("zaobao", "早报"),
    ("dushibao", "都市报"),
    ("chenbao", "晨报"),
    ("xinwen", "新闻"),
    ("shibao", "时报"),
]
EXTRA_TAGS = [
    "文明创建",
    "思明区",
    "城市管理",
    "志愿服务",
    "近邻",
    "社区治理",
    "公共空间",
    "专项整治",
    "民生",
    "典范城市",
]
ADV_KINDS = ["ctrl_body", "ctrl_title", "title_markup", "cat_list", "cat_singular", "date_no_tz"]
ADVERSARIAL_RATE = 0.01
ZIPF_S = 1.0

DATE_START = 1514736000  # 2018-01-01 00:00:00 +0800 as a UTC epoch
DATE_SPAN = 5 * 365 * 86400 + 86400  # about five years
TZ_OFFSET = 8 * 3600

_SENTENCE = re.compile(r"[^。！？；…]+(?:[。！？；]|…+)?[”」』]?")
_PARAGRAPH = re.compile(r"<p>(.*?)</p>")


@dataclass(frozen=True)
class Pools:
    """Text pieces cut from the seed post: posts are shuffled from these."""

    short: list[str]  # subheads (<= 20 characters)
    sentences: list[str]
    captions: list[str]  # photo captions (■/▲ ..., ...摄, ...供图)
    clauses: list[str]  # 4-14 character clauses: title material


def seed_paragraphs(seed_post: Path = SEED_POST) -> list[str]:
    """The sample post's paragraphs (the source line excluded): the corpus's only text."""
    body = seed_post.read_text(encoding="utf-8").split("---\n", 2)[2]
    return [p.strip() for p in _PARAGRAPH.findall(body) if p.strip()]


def build_pools(paragraphs: Sequence[str]) -> Pools:
    short: list[str] = []
    sentences: list[str] = []
    captions: list[str] = []
    for p in paragraphs:
        if p[0] in "■▲" or p.endswith(("摄", "供图")):
            captions.append(p)
        elif len(p) <= 20:
            short.append(p)
        else:
            sentences += [s.strip() for s in _SENTENCE.findall(p) if len(s.strip()) >= 4]
    clauses = set()
    for s in sentences:
        for c in re.split(r"[，。；：、！？]", s):
            c = c.strip("“”…《》 ")
            if 4 <= len(c) <= 14 and not any(ch in c for ch in "“”《》()（）"):
                clauses.add(c)
    return Pools(short, sentences, captions, sorted(clauses))


def categories(k: int) -> list[tuple[str, str]]:
    """K (slug, Chinese name) pairs; the first is the sample's own. Independent of --seed."""
    cats = [("shamenwanbao", "厦门晚报")]
    seen = {cats[0][0]}
    r = random.Random(12345)
    while len(cats) < k:
        a, b = r.sample(SYLLABLES, 2)
        suffix = r.choice(SUFFIXES)
        slug = a[0] + b[0] + suffix[0]
        if slug not in seen:
            seen.add(slug)
            cats.append((slug, a[1] + b[1] + suffix[1]))
    return cats


def yaml_quoted(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def local_date(epoch: int, with_offset: bool) -> tuple[str, str, str]:
    """Front matter date, YYYY-MM-DD and YYYYMMDD of a UTC epoch as +0800 wall time."""
    g = time.gmtime(epoch + TZ_OFFSET)
    day = f"{g.tm_year:04d}-{g.tm_mon:02d}-{g.tm_mday:02d}"
    stamp = f"{day} {g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}"
    return (f"{stamp} +0800" if with_offset else stamp), day, day.replace("-", "")


def generate(outdir: Path, n: int, k: int = 40, seed: int = 1, progress: bool = False) -> dict:
    """Write the corpus and its manifest; return the manifest."""
    rng = random.Random(seed)
    pools = build_pools(seed_paragraphs())
    cats = categories(k)
    cum_weights, acc = [], 0.0
    for rank in range(k):
        acc += 1.0 / (rank + 1) ** ZIPF_S
        cum_weights.append(acc)
    every = round(1.0 / ADVERSARIAL_RATE)
    posts_dir = outdir / POSTS
    posts_dir.mkdir(parents=True, exist_ok=True)
    counts = [0] * k
    adversarial = []
    rnd, choice, randint = rng.random, rng.choice, rng.randint
    cat_idx = rng.choices(range(k), cum_weights=cum_weights, k=n)
    for i in range(n):
        ci = cat_idx[i]
        slug, paper = cats[ci]
        epoch = DATE_START + int(rnd() * DATE_SPAN)
        adv = ADV_KINDS[(i // every) % len(ADV_KINDS)] if i % every == every // 2 else None
        date, ymd_dash, ymd = local_date(epoch, with_offset=adv != "date_no_tz")
        code = f"{randint(0, 999):03d}{i:07d}"  # 10 digits, unique per post
        if rnd() < 0.5:  # one or two clauses, like "十大提升 让文明成果看得见摸得着"
            title = choice(pools.clauses)
        else:
            title = choice(pools.clauses) + " " + choice(pools.clauses)
        ntags = 1 + (rnd() < 0.3) + (rnd() < 0.15)
        tags = [paper + "新闻", *rng.sample(EXTRA_TAGS, ntags - 1)]
        npara = randint(5, 30)
        paras = []
        for _ in range(npara):
            r = rnd()
            if r < 0.12:
                paras.append(choice(pools.short))
            elif r < 0.20:
                paras.append(choice(pools.captions))
            else:
                paras.append("".join(rng.sample(pools.sentences, randint(1, 4))))
        if adv == "ctrl_body":
            j = randint(0, npara - 1)
            paras[j] = paras[j][:3] + "\x0b" + paras[j][3:] + "\x0c\x01\x1f"
        elif adv == "ctrl_title":
            title = title[:2] + "\x0b" + title[2:]
        elif adv == "title_markup":
            title = "A&B <b>" + title + "</b> \"引号\" '单引号' &amp; <script>x</script>"
        front = ["---", "layout: post", "title: " + yaml_quoted(title), "date: " + date]
        if adv == "cat_list":
            other = (ci + 1) % k
            front += ["categories:", "  - " + slug, "  - " + cats[other][0]]
            counts[other] += 1
        elif adv == "cat_singular":
            front.append("category: " + slug)
        else:
            front.append("categories: " + slug)
        counts[ci] += 1
        front += ["tags: " + " ".join(tags), "---"]
        body = "<p>" + paras[0] + " </p>\n " + "\n ".join("<p>" + p + " </p>" for p in paras[1:])
        body += '<p class="em_media">（文章来源：' + paper + "）</p>\n\n"
        body += "<http://finews.example/html_News/NewsShare.html?infoCode=NW" + ymd + code + ">\n\n"
        body += (
            "[返回" + paper + "新闻](//finews.example/category/" + slug + ".html)"
            "｜[返回首页](//finews.example/)"
        )
        name = f"{ymd_dash}-nw{ymd}{code}.md"
        with open(posts_dir / name, "w", encoding="utf-8", newline="\n") as f:
            f.write("\n".join(front) + "\n" + body)
        if adv:
            adversarial.append({"file": name, "kind": adv})
        if progress and (i + 1) % 10_000 == 0:
            print(f"corpus: {i + 1:,}/{n:,} posts written", file=sys.stderr, flush=True)
    manifest = {
        "n": n,
        "k": k,
        "seed": seed,
        "adversarial_rate": ADVERSARIAL_RATE,
        "categories": [
            {"slug": slug, "name": name, "posts": count}
            for (slug, name), count in zip(cats, counts, strict=True)
        ],
        "adversarial": adversarial,
    }
    with open(outdir / MANIFEST, "w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=1)
    return manifest


def cached(cache: Path, n: int, k: int = 40, seed: int = 1) -> Path:
    """The corpus directory under `cache`, generated on first use (manifest = complete)."""
    out = cache / f"corpus-n{n}-k{k}-s{seed}"
    if (out / MANIFEST).is_file():
        return out
    partial = cache / f".partial-{out.name}"
    shutil.rmtree(partial, ignore_errors=True)
    print(f"bench: generating {n:,} posts into {out}", flush=True)
    generate(partial, n, k, seed, progress=True)
    partial.rename(out)
    return out


def load_manifest(corpus: Path) -> dict:
    return json.loads((corpus / MANIFEST).read_text(encoding="utf-8"))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.corpus", description="Write a deterministic synthetic post corpus."
    )
    ap.add_argument("outdir", type=Path)
    ap.add_argument("n", type=int, help="number of posts")
    ap.add_argument("--categories", type=int, default=40, dest="k", help="number of categories")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    if a.n < 1 or a.k < 1:
        ap.error("N and --categories must be at least 1")
    generate(a.outdir, a.n, a.k, a.seed, progress=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
