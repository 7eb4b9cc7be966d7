"""One post file to one index record, with Jekyll's front-matter semantics.

A record is a plain tuple (the index row) so worker processes can return it cheaply and a
restart can rebuild the same Post from the index without reading the file again. Reading
never raises: whatever goes wrong becomes a problem record naming the reason.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from stat import S_ISREG
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import markdown_it
import nh3
import yaml
from frontmatter.default_handlers import YAMLHandler

from feeds import permalink
from feeds.dates import DateOutOfRange, carried, file_name_date, parse_date, to_epoch
from feeds.sanitize import absolute_url, plain_text, uri
from feeds.summary import summary
from feeds.text import one_line, xml_safe
from finews.core.settings import Settings

# Bump when reading changes what a record holds: every index is then rebuilt.
RECORD_FORMAT = 3
POST, DRAFT, PROBLEM = "post", "draft", "problem"  # record states; drafts: published: false
LIST_SEPARATOR = "\x1f"  # XML forbids it, so no cleaned value can contain it

_HANDLER = YAMLHandler()
# libyaml's parser (several times faster than pure-Python PyYAML), with safe types only.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_INFO_CODE = re.compile(r"[A-Z]+\d{8}\d{10}")
_SHARE_LINK = re.compile(r"NewsShare\.html\?infoCode=([A-Za-z0-9]+)")
_HAS_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*\n)+")
# Front matter read without libyaml (see _simple_mapping): lines of `key: value`, the value
# double-quoted without escapes, single-quoted without quotes, plain (not starting with a
# YAML indicator, no `: ` or `#` inside), or nothing. Anything else goes to the YAML parser.
_SIMPLE_LINE = re.compile(
    r"""([A-Za-z_][A-Za-z0-9_-]*):(?:[ ]+(?:
        "([^"\\]*)"
      | '([^']*)'
      | ([^\s\-?:,\[\]{}#&*!|>'"%@`](?:[^\s:#]|:(?=\S)|[ ]+(?=[^\s#]))*)
    ))?[ ]*""",
    re.X,
)
# Characters YAML treats specially (line breaks, BOM, tabs) or refuses (non-printable).
_NOT_SIMPLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\t\ufeff\u2028\u2029]")
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.SafeLoader("")
_CONSTRUCTORS = {tag: f for tag, f in yaml.SafeLoader.yaml_constructors.items() if tag}
_STR_TAG = "tag:yaml.org,2002:str"


class Record(NamedTuple):
    """One index row: the file's signature, its state and the Post fields (None if none)."""

    key: str
    mtime_ns: int
    size: int
    digest: bytes
    state: str
    problem: str | None
    id: str | None  # None when the id is the URL
    url: str | None
    title: str | None
    published: int | None  # microseconds since 1970 UTC (feeds.dates.to_epoch)
    published_offset: int | None  # seconds east of UTC, kept: +08:00 stays +08:00
    updated: int | None
    updated_offset: int | None
    categories: str | None  # LIST_SEPARATOR-joined
    tags: str | None
    author: str | None
    summary: str | None
    image: str | None
    info_code: str | None


_NO_FIELDS = (None,) * (len(Record._fields) - 6)  # the Post fields of a draft or problem


@dataclass(frozen=True)
class ReadConfig:
    """The settings that shape a record; their fingerprint invalidates the index."""

    posts_dir: str
    site_url: str
    permalink: str
    timezone: str
    summary_length: int
    max_bytes: int
    max_front_matter_nodes: int
    follow_external_symlinks: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> ReadConfig:
        return cls(
            posts_dir=str(os.path.abspath(settings.posts.dir)),
            site_url=settings.site.url.rstrip("/"),
            permalink=settings.feeds.permalink,
            timezone=settings.site.timezone,
            summary_length=settings.feeds.summary_length,
            max_bytes=settings.posts.max_bytes,
            max_front_matter_nodes=settings.posts.max_front_matter_nodes,
            follow_external_symlinks=settings.posts.follow_external_symlinks,
        )

    def fingerprint(self) -> str:
        """Changes with these settings, the record format and the sanitizing libraries."""
        nh3_version = nh3.__version__  # type: ignore[attr-defined]  # nh3's stubs omit it
        versions = (RECORD_FORMAT, yaml.__version__, markdown_it.__version__, nh3_version)
        blob = json.dumps([asdict(self), versions], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


def digest(data: bytes) -> bytes:
    """A file's content digest: an unchanged digest means an unchanged post and body."""
    return hashlib.blake2b(data, digest_size=16).digest()


class PostProblem(Exception):
    """Why a file is not published: the message is the reason shown to the user."""


def _scalar(value: Any, what: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        raise PostProblem(f"{what} is a {type(value).__name__}, expected text")
    return "" if value is None else str(value)


def _jekyll_list(meta: dict[str, Any], singular: str, plural: str) -> tuple[str, ...]:
    """Jekyll's categories/tags: the singular key as one item, then the plural key as a
    YAML list or a whitespace-separated string; duplicates and empty items dropped."""
    items: list[Any] = []
    for value, split in ((meta.get(singular), False), (meta.get(plural), True)):
        if isinstance(value, str) and split:
            items.extend(value.split())
        elif isinstance(value, list):
            items.extend(value)
        elif value is not None:
            items.append(value)
    names = (one_line(_scalar(item, plural)) for item in items if item is not None)
    return tuple(dict.fromkeys(name for name in names if name))


def _date(meta: dict[str, Any], key: str, zone: ZoneInfo) -> datetime | None:
    value = meta.get(key)
    if value is None:
        return None
    try:
        return parse_date(value, zone)
    except DateOutOfRange as exc:
        raise PostProblem(str(exc) if key == "date" else f"{key}: {exc}") from None
    except ValueError as exc:
        raise PostProblem(f"{key}: {exc}") from None


def _file_name_date(stem: str, zone: ZoneInfo) -> datetime:
    found = file_name_date(stem, zone)
    if found is None:
        raise PostProblem("no date (no `date` in front matter, no YYYY-MM-DD- file name)")
    try:
        return carried(found)
    except ValueError as exc:
        raise PostProblem(f"file name: {exc}") from None


def _person(value: Any) -> str | None:
    """An author as text: a name, a {name: ...} mapping, or a list of those."""
    names = []
    for item in value if isinstance(value, list) else [value]:
        name = plain_text(_scalar(item.get("name") if isinstance(item, dict) else item, "author"))
        if name:
            names.append(name)
    return ", ".join(names) or None


def _image(value: Any, base: str) -> str | None:
    if isinstance(value, dict):
        value = value.get("path") or value.get("url")
    text = _scalar(value, "image").strip()
    return absolute_url(text, base) if text else None


def _info_code(meta: dict[str, Any], body: str) -> str | None:
    """Front matter `infoCode` if well-formed, else the first share link's code in the body."""
    written = meta.get("infoCode")
    if isinstance(written, str) and _INFO_CODE.fullmatch(written.strip()):
        return written.strip()
    for match in _SHARE_LINK.finditer(body):
        if _INFO_CODE.fullmatch(match.group(1)):
            return match.group(1)
    return None


def _path(
    meta: dict[str, Any],
    config: ReadConfig,
    published: datetime,
    categories: tuple[str, ...],
    slug: str,
) -> str:
    """The URL path: the post's own `permalink` (a pattern too, as in Jekyll) or the site's."""
    pattern = config.permalink
    own = one_line(_scalar(meta.get("permalink"), "permalink"))
    if own:
        if _HAS_SCHEME.match(own) or own.startswith("//"):
            raise PostProblem(f"permalink {own!r} is not a path on this site")
        pattern = own if own.startswith("/") else "/" + own
    try:
        return permalink.expand(pattern, published=published, categories=categories, slug=slug)
    except ValueError as exc:
        raise PostProblem(str(exc)) from None


def _item_id(value: Any, site_url: str) -> str:
    """Front matter `id`: a URI as written, else made absolute on the site (as jekyll-feed
    does), so every id is a valid Atom IRI."""
    text = one_line(_scalar(value, "id"))
    if not text:
        raise PostProblem("id is empty")
    return uri(text if _HAS_SCHEME.match(text) else f"{site_url}/{text.lstrip('/')}")


def _yaml_reason(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        context = f"{exc.context}, " if exc.context else ""
        # +2: the file's first line is the opening ---, and marks count from 0
        return one_line(f"{context}{exc.problem} (line {exc.problem_mark.line + 2})")
    return one_line(str(exc))


def _decode(data: bytes) -> str:
    if not data.strip():
        raise PostProblem("empty file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PostProblem(
            f"not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None
    # Drop XML-forbidden characters first: YAML refuses them and would cost the article.
    text = xml_safe(text)
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _split_text(text: str) -> tuple[str, str]:
    """The front matter text and the body (leading blank lines dropped)."""
    if not _HANDLER.detect(text):
        raise PostProblem("no front matter (the file must start with a --- line)")
    try:
        head, body = _HANDLER.split(text)
    except ValueError:
        raise PostProblem("front matter is not closed by a --- line") from None
    return head, _LEADING_BLANK_LINES.sub("", body, count=1)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        items: list[yaml.Node] = node.value
        return items
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expansion(root: yaml.Node, limit: int) -> None:
    """Refuse a node graph that would expand into more than `limit` nodes: an alias
    (`*a`) repeats its anchor's whole subtree, so ten nested lists of ten aliases each
    ("billion laughs") are 10^10 nodes in a few hundred bytes. Each distinct node is
    sized once (sizes are memoized), so the check is linear in the text."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > limit:
                raise PostProblem(
                    f"front matter aliases expand to more than {limit} YAML "
                    "nodes (posts.max_front_matter_nodes)"
                )
        elif key in open_nodes:  # reached again from inside itself
            raise PostProblem(
                "front matter has a recursive YAML alias (an anchor used inside itself)"
            )
        elif key not in sizes:
            open_nodes.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))


def _simple_mapping(head: str) -> dict[str, Any] | None:
    """The value of front matter that is only `key: value` lines (blank lines between),
    each value plain, quoted without escapes, or empty; None for anything else.

    Most posts' front matter is just that, and reading it line by line skips libyaml's
    parse and PyYAML's node-by-node construction. Each value gets the type the YAML load
    gives it (PyYAML's own resolver and constructor for plain values: dates, numbers,
    booleans, null), so the mapping is the one `yaml.load` returns.
    """
    if _NOT_SIMPLE.search(head):
        return None
    meta: dict[str, Any] = {}
    for line in head.split("\n"):
        match = _SIMPLE_LINE.fullmatch(line)
        if match is None:
            if line.strip(" "):
                return None
            continue
        key, double, single, plain = match.groups()
        if not _is_text_key(key):  # `on:` or `null:` is no text key
            return None
        if double is not None or single is not None:
            meta[key] = double if double is not None else single
        elif plain is None:
            meta[key] = None  # `key:` alone
        else:
            tag = _plain_tag(plain)
            if tag == _STR_TAG:
                meta[key] = plain
            elif tag in _CONSTRUCTORS:
                meta[key] = _CONSTRUCTORS[tag](_CONSTRUCTOR, yaml.ScalarNode(tag, plain))
            else:  # a tag safe loading refuses (`=`): let the YAML load say so
                return None
    return meta or None


def _plain_tag(value: str) -> str:
    """The tag PyYAML's resolver gives an unquoted scalar (`tag:yaml.org,2002:int`, …)."""
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]  # PyYAML's stubs leave resolve unannotated
    return tag


@functools.lru_cache(maxsize=256)
def _is_text_key(key: str) -> bool:
    return _plain_tag(key) == _STR_TAG


def _load_yaml(head: str, max_nodes: int) -> Any:
    """The front matter's YAML value. Text without `*` has no alias, so nothing in it
    repeats and the plain load is safe: only text that has one is composed first and
    its expanded size checked before anything is built."""
    simple = _simple_mapping(head)
    if simple is not None:
        return simple
    if "*" not in head:
        return _HANDLER.load(head, Loader=_YAML_LOADER)
    loader = _YAML_LOADER(head)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, max_nodes)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _split(text: str, max_nodes: int) -> tuple[dict[str, Any], str]:
    head, body = _split_text(text)
    try:
        meta = _load_yaml(head, max_nodes)
    except yaml.YAMLError as exc:
        raise PostProblem(f"broken YAML front matter: {_yaml_reason(exc)}") from None
    except (ValueError, TypeError, AttributeError, OverflowError, RecursionError) as exc:
        # PyYAML's constructors raise these for some values: `!!timestamp` on nothing,
        # `!!int` past any range, a date with month 13
        raise PostProblem(
            f"broken YAML front matter: {type(exc).__name__}: {one_line(str(exc))}"
        ) from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise PostProblem("front matter is not a mapping of keys to values")
    return {str(k): v for k, v in meta.items()}, body


def _fields(data: bytes, key: str, config: ReadConfig) -> tuple[Any, ...] | None:
    """The Post fields of a record (id .. info_code), or None for a draft."""
    meta, body = _split(_decode(data), config.max_front_matter_nodes)
    if meta.get("published") is False:
        return None
    title = plain_text(_scalar(meta.get("title"), "title"))
    if not title:
        raise PostProblem("no title")
    zone = ZoneInfo(config.timezone)
    stem = key.rpartition("/")[2].rpartition(".")[0]
    published = _date(meta, "date", zone) or _file_name_date(stem, zone)
    updated = max(published, _date(meta, "last_modified_at", zone) or published)
    categories = _jekyll_list(meta, "category", "categories")
    tags = _jekyll_list(meta, "tag", "tags")
    slug = one_line(_scalar(meta.get("slug"), "slug")) or permalink.file_slug(stem)
    url = config.site_url + _path(meta, config, published, categories, slug)
    item_id = _item_id(meta["id"], config.site_url) if meta.get("id") is not None else None
    excerpt = next((meta[k] for k in ("excerpt", "description") if meta.get(k) is not None), None)
    return (
        None if item_id == url else item_id,
        url,
        title,
        *to_epoch(published),
        *to_epoch(updated),
        LIST_SEPARATOR.join(categories),
        LIST_SEPARATOR.join(tags),
        _person(meta.get("author")),
        summary(
            None if excerpt is None else _scalar(excerpt, "excerpt"), body, config.summary_length
        ),
        _image(meta.get("image"), url),
        _info_code(meta, body),
    )


def read_file(path: str, max_bytes: int) -> tuple[tuple[int, int], bytes]:
    """A post file's (mtime_ns, size) and bytes; PostProblem when it is no regular file or
    larger than `max_bytes`. Opened without blocking, so a FIFO named like a post cannot
    hang a load."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with open(fd, "rb") as fh:
        stat = os.fstat(fd)
        signature = (stat.st_mtime_ns, stat.st_size)
        if not S_ISREG(stat.st_mode):
            raise PostProblem("not a regular file")
        data = b""
        if stat.st_size <= max_bytes:
            # a buffer of the file's size, not of max_bytes: 10,000 reads allocate less
            data = fh.read(stat.st_size + 1)
            if len(data) > stat.st_size:  # grown since the stat: read on to the limit
                data += fh.read(max_bytes + 1 - len(data))
        if stat.st_size > max_bytes or len(data) > max_bytes:
            raise PostProblem(
                f"file too large: {max(stat.st_size, len(data))} bytes, more "
                f"than posts.max_bytes = {max_bytes}"
            )
    return signature, data


def read_body(data: bytes) -> str:
    """The body (after front matter) of a file's bytes, cleaned as for parsing."""
    return _split_text(_decode(data))[1]


def problem_record(record: Record | str, reason: str) -> Record:
    """A PROBLEM record of `record`'s file (its signature kept), or of file key `record`
    with a signature no scan matches."""
    if isinstance(record, str):
        return Record(record, -1, -1, b"", PROBLEM, reason, *_NO_FIELDS)
    return Record(*record[:4], PROBLEM, one_line(reason), *_NO_FIELDS)


def read_post(path: str, key: str, config: ReadConfig) -> Record:
    """The record of one file; any failure is a PROBLEM record with the reason."""
    signature: tuple[int, int] = (-1, -1)  # never matches a later scan: retried next load
    content_digest = b""
    try:
        signature, data = read_file(path, config.max_bytes)
        content_digest = digest(data)
        fields = _fields(data, key, config)
    except PostProblem as exc:
        problem = str(exc)
    except OSError as exc:
        problem = f"cannot read: {exc.strerror}"
    except Exception as exc:
        problem = one_line(f"unexpected {type(exc).__name__}: {exc}")
    else:
        if fields is None:
            return Record(key, *signature, content_digest, DRAFT, None, *_NO_FIELDS)
        return Record(key, *signature, content_digest, POST, None, *fields)
    return Record(key, *signature, content_digest, PROBLEM, problem, *_NO_FIELDS)
