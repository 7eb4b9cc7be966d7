"""Sanitizing post bodies for feed readers: safe, absolute, XML-clean HTML and summaries."""

from __future__ import annotations

import re

import lxml.html
import pytest

from feeds.sanitize import plain_text, sanitize_body
from feeds.summary import first_paragraph, summary
from feeds.text import cut

POST_URL = "https://news.example.cn/shamenwanbao/2022/05/24/post.html"
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def links(html: str, tag: str, attribute: str) -> list[str]:
    return [
        element.get(attribute)
        for element in lxml.html.fragment_fromstring(html, create_parent="div").iter(tag)
        if element.get(attribute) is not None
    ]


def test_sample_style_body_keeps_paragraphs_and_renders_markdown_links() -> None:
    body = (
        "<p>■思明区将探索建立常态化长效化运行机制。 陈嘉新摄 </p>\n <p>第二段。 </p>"
        '<p class="em_media">（文章来源：厦门晚报）</p>\n\n'
        "<http://finews.zning.xyz/html_News/NewsShare.html?infoCode=NW202205242389705455>\n\n"
        "[返回厦门晚报新闻](//finews.withounder.com/category/shamenwanbao.html)｜"
        "[返回首页](//finews.withounder.com/)"
    )
    html = sanitize_body(body, POST_URL)
    assert "<p>■思明区将探索建立常态化长效化运行机制。 陈嘉新摄 </p>" in html
    assert "（文章来源：厦门晚报）" in html
    assert links(html, "a", "href") == [
        "http://finews.zning.xyz/html_News/NewsShare.html?infoCode=NW202205242389705455",
        "https://finews.withounder.com/category/shamenwanbao.html",
        "https://finews.withounder.com/",
    ]
    assert '<a href="https://finews.withounder.com/">返回首页</a>' in html


@pytest.mark.parametrize(
    "hostile",
    [
        '<script>alert("x")</script>',
        '<img src="a.png" onerror="alert(1)">',
        '<a href="javascript:alert(1)">click</a>',
        '<a href="JaVaScRiPt:alert(1)">click</a>',
        "<style>body { display: none }</style>",
        '<p style="position:fixed;top:0">covered</p>',
        '<iframe src="https://evil.example/"></iframe>',
        '<svg onload="alert(1)"><circle/></svg>',
        '<a href="data:text/html,<script>alert(1)</script>">data</a>',
        '<form action="https://evil.example/"><input name="q"></form>',
        '<object data="x.swf"></object><embed src="x.swf">',
        '<a href="vbscript:msgbox(1)">vb</a>',
    ],
)
def test_hostile_html_is_defused(hostile: str) -> None:
    html = sanitize_body(f"<div>安全文字</div>\n\n{hostile}\n\n<p>后文</p>", POST_URL).lower()
    assert "安全文字" in html and "后文" in html
    for bad in (
        "<script",
        "alert",
        "onerror",
        "onload",
        "javascript:",
        "vbscript:",
        "<style",
        "style=",
        "<iframe",
        "<svg",
        "data:text",
        "<form",
        "<input",
        "<object",
        "<embed",
        "display: none",
    ):
        assert bad not in html, (bad, html)


def test_raster_data_images_stay_and_other_data_urls_go() -> None:
    png = "data:image/png;base64,iVBORw0KGgo="
    html = sanitize_body(
        f'<img src="{png}" alt="点"><img src="data:image/svg+xml,<svg/>">', POST_URL
    )
    assert links(html, "img", "src") == [png]
    assert 'alt="点"' in html


def test_cdata_end_marker_in_body_survives_as_text() -> None:
    html = sanitize_body("<p>代码 ]]> 结束 ]]&gt; 再来</p>", POST_URL)
    text = lxml.html.fragment_fromstring(html, create_parent="div").text_content()
    assert text == "代码 ]]> 结束 ]]> 再来"


def test_relative_and_protocol_relative_urls_become_absolute() -> None:
    body = (
        '<a href="/about.html">关于</a> <a href="next.html">下一篇</a> '
        '<a href="../index.html">上级</a> <a href="//cdn.example.com/x">CDN</a> '
        '<a href="#comments">评论</a> <a href="mailto:tips@example.cn">邮件</a>\n\n'
        '<img src="img/photo.jpg" srcset="img/photo-2x.jpg 2x, //cdn.example.com/p.jpg 3x,'
        ' https://other.example/p.jpg 640w" alt="照片">\n\n'
        '![图](/images/图片.png)\n\n<blockquote cite="/source.html">引用</blockquote>'
    )
    html = sanitize_body(body, POST_URL)
    assert links(html, "a", "href") == [
        "https://news.example.cn/about.html",
        "https://news.example.cn/shamenwanbao/2022/05/24/next.html",
        "https://news.example.cn/shamenwanbao/2022/05/index.html",
        "https://cdn.example.com/x",
        "https://news.example.cn/shamenwanbao/2022/05/24/post.html#comments",
        "mailto:tips@example.cn",
    ]
    assert links(html, "img", "src") == [
        "https://news.example.cn/shamenwanbao/2022/05/24/img/photo.jpg",
        "https://news.example.cn/images/%E5%9B%BE%E7%89%87.png",
    ]
    assert links(html, "img", "srcset") == [
        "https://news.example.cn/shamenwanbao/2022/05/24/img/photo-2x.jpg 2x, "
        "https://cdn.example.com/p.jpg 3x, https://other.example/p.jpg 640w"
    ]
    assert links(html, "blockquote", "cite") == ["https://news.example.cn/source.html"]


def test_protocol_relative_urls_take_the_site_scheme() -> None:
    html = sanitize_body(
        '<a href="//finews.withounder.com/">首页</a>', "http://127.0.0.1:8080/a/b.html"
    )
    assert links(html, "a", "href") == ["http://finews.withounder.com/"]


def test_non_ascii_urls_are_percent_encoded_and_text_stays_chinese() -> None:
    html = sanitize_body('<a href="/新闻/厦门 晚报.html?q=鹭岛">厦门晚报新闻</a>', POST_URL)
    assert links(html, "a", "href") == [
        "https://news.example.cn/%E6%96%B0%E9%97%BB/%E5%8E%A6%E9%97%A8%20%E6%99%9A%E6%8A%A5"
        ".html?q=%E9%B9%AD%E5%B2%9B"
    ]
    assert ">厦门晚报新闻</a>" in html


def test_xml_forbidden_characters_are_dropped_even_from_entities() -> None:
    body = "<p>控制\x01字符\x0b和\x1f实体&#1;&#x0B;&#xFFFE;&#xffff;结束\ufffe</p>\n\n正文\x0c段落"
    html = sanitize_body(body, POST_URL)
    assert not XML_FORBIDDEN.search(html)
    assert "控制字符和实体结束" in html
    assert "正文段落" in html


def test_first_paragraph_is_the_first_one_with_text() -> None:
    body = '<p><img src="a.png"></p>\n<p>  第一段 有文字，\n 换行 &amp; 实体。 </p>\n<p>第二段</p>'
    assert first_paragraph(body) == "第一段 有文字， 换行 & 实体。"
    assert (
        first_paragraph("![图](a.png)\n\n**粗体**开头的 *Markdown* 段落\n\n下一段")
        == "粗体开头的 Markdown 段落"
    )
    assert first_paragraph("# 标题\n\n正文第一段") == "正文第一段"
    assert first_paragraph("<div>没有段落标签的正文</div>") == "没有段落标签的正文"
    assert first_paragraph('<p class="lead" id="x">带属性的段落</p>') == "带属性的段落"


def test_summary_cuts_at_the_setting_without_breaking_characters_or_entities() -> None:
    paragraph = "厦门" * 100
    assert summary(None, f"<p>{paragraph}</p>", 140) == "厦门" * 70 + "…"
    assert summary(None, "<p>短段落</p>", 140) == "短段落"
    assert summary(None, "<p>" + "字" * 140 + "</p>", 140) == "字" * 140
    # "&amp;" is one character in the summary, never cut into "&am"
    assert summary(None, "<p>" + "字" * 9 + "&amp;&amp;后面</p>", 10) == "字" * 9 + "&…"
    # an accent or an emoji sequence is kept whole or dropped whole
    assert cut("cafe\u0301s", 4) == "caf…"
    assert cut("ab\U0001f468\u200d\U0001f469\u200d\U0001f467", 4) == "ab…"
    assert cut("👍🏽好", 1) == "…"


def test_excerpt_wins_and_is_plain_text() -> None:
    assert (
        summary("<b>编辑</b>写的 &amp; 摘要\n第二行", "<p>正文第一段</p>", 5)
        == "编辑写的 & 摘要 第二行"
    )
    assert summary("  ", "<p>正文第一段</p>", 140) == "正文第一段"


def test_plain_text_titles() -> None:
    assert (
        plain_text('A&B <b>粗</b> "引号" &amp; <script>x</script> 1 < 2') == 'A&B 粗 "引号" & 1 < 2'
    )
    assert plain_text("标题\x0b带\x01控制字符") == "标题带控制字符"
