"""A post's summary: its excerpt, else the text of its first real paragraph.

Like Jekyll's excerpt, but paragraphs that are no summary (captions, bracketed labels; see
BOILERPLATE) are passed over, and only the first few blocks of a body are converted, so a
summary costs a fraction of sanitizing the whole body.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import islice

import nh3

from feeds.sanitize import DROP_WITH_CONTENT, MARKDOWN, plain_text
from feeds.text import cut

_BLOCK_SEPARATOR = re.compile(r"\n[ \t]*\n")
_PARAGRAPH = re.compile(r"<p>(.*?)</p>", re.S)
_PARAGRAPH_END = re.compile(r"</p\s*>", re.I)
# A block opening with a text-only <p>: CommonMark passes it through as raw HTML, so its
# text is the paragraph's text without converting or sanitizing anything.
_PLAIN_FIRST_PARAGRAPH = re.compile(r" {0,3}<p(?:\s[^<>]*)?>([^<]*)</p\s*>", re.I)
_PLAIN_NEXT_PARAGRAPH = re.compile(r"\s*<p(?:\s[^<>]*)?>([^<]*)</p\s*>", re.I)
SUMMARY_BLOCKS = 5  # blocks searched for a first paragraph with text
SUMMARY_PARAGRAPHS = 8  # paragraphs with text looked at (and converted of a long HTML block)
# Paragraphs that are no summary, as the papers print them. One of:
# - nothing but brackets, punctuation and spaces: 【】, [], （）;
# - a bracketed label alone: 【相关新闻】, [图集];
# - a photo caption: opening with a caption mark (■ ▲ ▼ ● ◆) or 图片说明 / 图注 / 图为 / 图：,
#   or ending with the photographer's credit (… 陈嘉新摄, … 鹭江街道供图, （摄影 张三）).
BOILERPLATE = re.compile(
    r"""
    [\W_]*
  | [【\[［〔][^】\]］〕]{1,12}[】\]］〕]
  | [■▲▼●◆].*
  | (?:图片说明|图注|图为|图[：:]).*
  | .*(?:摄|摄影|供图)[）)]?
  | [（(][^）)]*(?:摄影|摄|供图)[^）)]*[）)]
""",
    re.X | re.S,
)


def _paragraph_texts(body: str) -> Iterator[tuple[str, bool]]:
    """(plain text, is a paragraph) of the first blocks' paragraphs, in order; a block
    without paragraphs (a heading, a <div>) gives its whole text, marked False.

    Converts only the first few blocks, and of a long HTML block only its first paragraphs
    (text-only <p>s are read without any conversion), so a summary costs a fraction of
    sanitizing the whole body.
    """
    for block in islice(_BLOCK_SEPARATOR.split(body, SUMMARY_BLOCKS), SUMMARY_BLOCKS):
        plain, end = _PLAIN_FIRST_PARAGRAPH.match(block), 0
        while plain:
            yield plain_text(plain.group(1)), True
            end = plain.end()
            plain = _PLAIN_NEXT_PARAGRAPH.match(block, end)
        block = block[end:]
        if not block.strip():
            continue
        ends = [m.end() for m in islice(_PARAGRAPH_END.finditer(block), SUMMARY_PARAGRAPHS)]
        if len(ends) == SUMMARY_PARAGRAPHS:
            block = block[: ends[-1]]
        cleaned = nh3.clean(
            MARKDOWN.render(block), tags={"p"}, attributes={}, clean_content_tags=DROP_WITH_CONTENT
        )
        paragraphs = [plain_text(match.group(1)) for match in _PARAGRAPH.finditer(cleaned)]
        yield from ((text, True) for text in paragraphs)
        if not paragraphs:
            yield plain_text(cleaned), False


def first_paragraph(body: str) -> str:
    """Plain text of the body's first real paragraph (Jekyll's excerpt idea): the first
    of its first SUMMARY_PARAGRAPHS paragraphs with text that is not BOILERPLATE; else the
    text of the first block without paragraphs (a heading, a <div>) that is not; else ""
    (feeds then show the title)."""
    fallback = ""
    texts = ((text, is_paragraph) for text, is_paragraph in _paragraph_texts(body) if text)
    for text, is_paragraph in islice(texts, SUMMARY_PARAGRAPHS):
        if BOILERPLATE.fullmatch(text):
            continue
        if is_paragraph:
            return text
        fallback = fallback or text
    return fallback


def summary(excerpt: str | None, body: str, length: int) -> str:
    """The excerpt as plain text when given, else the first paragraph cut at `length`."""
    if excerpt is not None and plain_text(excerpt):
        return plain_text(excerpt)
    return cut(first_paragraph(body), length)
