"""Feed documents: every format valid and complete, byte-stable, paged, hygienic."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from lxml import etree

from feeds.catalog import Catalog, Site
from feeds.documents import feed_documents, make_page, opml
from finews.config import load
from tests.feed_helpers import (
    NS,
    SITE,
    Source,
    parse_json_feed,
    parse_xml_feed,
    post,
    xml_tree,
)

SHARE = "https://news.example.cn/html_News/NewsShare.html?infoCode=NW202205031234567890"


def site(**overrides: object) -> Site:
    values = {"site__url": SITE, "site__name": "厦门新闻", **overrides}
    return Site.from_settings(load(env={}).replace(**values))


def documents(
    source: Source,
    kind: str = "all",
    term: str = "",
    number: int = 1,
    shares: dict[str, str] | None = None,
    the_site: Site | None = None,
) -> dict[str, bytes]:
    the_site = the_site or site()
    feed = Catalog(the_site, source.posts()).get(kind, term)
    assert feed is not None
    page = make_page(the_site, source, shares or {}, feed, number)
    assert page is not None
    return feed_documents(page)


@pytest.fixture
def source() -> Source:
    return Source.of(
        [
            post(1, author="记者 吴晓菁", image=f"{SITE}/img/1.jpg"),
            post(
                2,
                id="urn:finews:post-2",
                categories=("xiamenribao", "shamenwanbao"),
                tags=("交通", "民生"),
            ),
            post(3, updated=post(3).published + timedelta(hours=5), tags=()),
        ]
    )


def test_every_format_parses_and_carries_every_item_field(source: Source) -> None:
    docs = documents(source, shares={post(3).url: SHARE})
    rss = parse_xml_feed(docs["rss"], "rss20")
    atom = parse_xml_feed(docs["atom"], "atom10")
    json_feed = parse_json_feed(docs["json"])
    for parsed in (rss, atom):
        assert [e.link for e in parsed.entries] == [f"{SITE}/p/{n}.html" for n in (3, 2, 1)]
        assert [e.id for e in parsed.entries] == [
            f"{SITE}/p/3.html",
            "urn:finews:post-2",
            f"{SITE}/p/1.html",
        ]
        assert [e.title for e in parsed.entries] == ["第3篇 新闻", "第2篇 新闻", "第1篇 新闻"]
        assert parsed.entries[2].content[0].value == "<p>正文 第1篇 新闻</p>"
        assert parsed.entries[2].summary == "摘要 1"
        assert parsed.entries[2].author == "记者 吴晓菁"
        assert {t.term for t in parsed.entries[1].tags} >= {"交通", "民生"}
        assert parsed.entries[2].media_content[0]["url"] == f"{SITE}/img/1.jpg"
    assert {t.term for t in atom.entries[1].tags} == {"xiamenribao", "shamenwanbao", "交通", "民生"}
    assert [(link.rel, link.href) for link in atom.entries[0].links] == [
        ("alternate", f"{SITE}/p/3.html"),
        ("related", SHARE),
    ]
    assert xml_tree(docs["rss"]).findtext("channel/item/dc:relation", namespaces=NS) == SHARE
    assert xml_tree(docs["rss"]).find("channel/item[2]/dc:relation", NS) is None
    assert atom.entries[0].published == "2022-05-04T09:00:00+08:00"
    assert atom.entries[0].updated == "2022-05-04T14:00:00+08:00"
    assert rss.entries[0].published == "Wed, 04 May 2022 09:00:00 +0800"
    items = json_feed["items"]
    assert [i["id"] for i in items] == [f"{SITE}/p/3.html", "urn:finews:post-2", f"{SITE}/p/1.html"]
    assert items[0]["date_published"] == "2022-05-04T09:00:00+08:00"
    assert items[0]["date_modified"] == "2022-05-04T14:00:00+08:00"
    assert items[0]["_finews"] == {"share_url": SHARE}
    assert "_finews" not in items[1]
    assert items[1]["tags"] == ["厦门日报", "厦门晚报", "交通", "民生"]  # display names
    assert items[2]["authors"] == [{"name": "记者 吴晓菁"}]
    assert items[2]["image"] == f"{SITE}/img/1.jpg"
    assert items[2]["content_html"] == "<p>正文 第1篇 新闻</p>"


def test_rss_details_readers_rely_on(source: Source) -> None:
    tree = xml_tree(documents(source)["rss"])
    channel = tree.find("channel")
    assert channel.findtext("link") == f"{SITE}/"  # the site, not the feed
    links = {link.get("rel"): link.get("href") for link in channel.findall("atom:link", NS)}
    assert links["self"] == f"{SITE}/feeds/all.rss"
    assert links["hub"] == f"{SITE}/websub"
    assert channel.findtext("ttl") == "5"  # max_age 300 s
    assert channel.findtext("lastBuildDate") == "Wed, 04 May 2022 14:00:00 +0800"
    items = channel.findall("item")
    guids = [item.find("guid") for item in items]
    assert [g.get("isPermaLink") for g in guids] == ["true", "false", "true"]
    assert items[2].findtext("dc:creator", namespaces=NS) == "记者 吴晓菁"
    assert items[2].findtext("description") and items[2].findtext("content:encoded", namespaces=NS)
    assert items[2].find("media:content", NS).get("type") == "image/jpeg"
    assert set(tree.nsmap) >= {"atom", "content", "dc", "media"}


def test_atom_feed_level_elements(source: Source) -> None:
    the_site = dataclasses.replace(site(), category_names={"shamenwanbao": "厦门晚报"})
    docs = documents(source, "category", "shamenwanbao", the_site=the_site)
    atom = parse_xml_feed(docs["atom"], "atom10").feed
    assert atom.title == "厦门新闻 | 厦门晚报"
    assert atom.id == f"{SITE}/feeds/category/shamenwanbao.atom"
    assert atom.updated == "2022-05-04T14:00:00+08:00"
    assert atom.author == "厦门新闻"
    assert atom.language == "zh-CN"
    assert atom.subtitle == "厦门新闻「厦门晚报」的最新文章"
    assert atom.generator == "finews"
    links = {link.rel: link.href for link in atom.links}
    assert links["alternate"] == f"{SITE}/category/shamenwanbao.html"
    assert links["self"] == f"{SITE}/feeds/category/shamenwanbao.atom"
    json_feed = parse_json_feed(docs["json"])
    assert json_feed["home_page_url"] == f"{SITE}/category/shamenwanbao.html"
    assert json_feed["feed_url"] == f"{SITE}/feeds/category/shamenwanbao.json"
    assert json_feed["hubs"] == [{"type": "WebSub", "url": f"{SITE}/websub"}]
    assert parse_xml_feed(docs["rss"], "rss20").entries[0].tags[0].term == "厦门晚报"


def test_same_posts_give_the_same_bytes_and_updated_is_the_newest_item(source: Source) -> None:
    first, second = documents(source), documents(Source.copy(source))
    assert first == second
    older = Source.of([post(1), post(2)])
    updated = xml_tree(documents(older)["atom"]).findtext("atom:updated", namespaces=NS)
    assert updated == "2022-05-03T09:00:00+08:00"


def test_an_edit_moves_updated_but_never_published(source: Source) -> None:
    edited = post(1, title="第1篇 新闻（更正）", updated=post(1).published + timedelta(days=30))
    changed = Source.of([edited, *source.posts()[:2]])
    entry = parse_xml_feed(documents(changed)["atom"], "atom10").entries[-1]
    assert entry.id == f"{SITE}/p/1.html"
    assert entry.published == "2022-05-02T09:00:00+08:00"
    assert entry.updated == "2022-06-01T09:00:00+08:00"


def test_forbidden_characters_are_dropped_and_cdata_terminators_are_safe() -> None:
    dirty = post(
        1, title="标题\x0b带\x01控制符", summary="摘\x1f要", author="作\x0c者", tags=("民\x00生",)
    )
    source = Source.of([dirty], {dirty.key: "<p>正文]]>结束\x0b</p><p>&lt;script&gt;</p>"})
    docs = documents(source)
    for fmt, version in (("rss", "rss20"), ("atom", "atom10")):
        xml_tree(docs[fmt])
        entry = parse_xml_feed(docs[fmt], version).entries[0]
        assert entry.title == "标题带控制符"
        assert "]]>结束" in entry.content[0].value
        assert [t.term for t in entry.tags][-1] == "民生"
    item = parse_json_feed(docs["json"])["items"][0]
    assert item["title"] == "标题带控制符" and item["summary"] == "摘要"
    assert item["content_html"] == "<p>正文]]>结束</p><p>&lt;script&gt;</p>"
    for body in docs.values():
        assert not any(ord(c) < 0x20 and c not in "\t\n\r" for c in body.decode())


def test_markup_in_a_summary_is_shown_as_text_not_interpreted() -> None:
    source = Source.of([post(1, summary="a <b>bold</b> & c")])
    docs = documents(source)
    for fmt, version in (("rss", "rss20"), ("atom", "atom10")):
        summary = parse_xml_feed(docs[fmt], version).entries[0].summary
        assert summary == "a &lt;b&gt;bold&lt;/b&gt; &amp; c"
    assert parse_json_feed(docs["json"])["items"][0]["summary"] == "a <b>bold</b> & c"


def test_pages_link_first_previous_next_last_and_stop_at_the_end() -> None:
    source = Source.of([post(n) for n in range(1, 6)])
    two = site(feeds__items_per_feed=2)
    docs = documents(source, number=2, the_site=two)
    atom = parse_xml_feed(docs["atom"], "atom10")
    links = {link.rel: link.href for link in atom.feed.links}
    assert links == {
        "self": f"{SITE}/feeds/all/page/2.atom",
        "first": f"{SITE}/feeds/all.atom",
        "previous": f"{SITE}/feeds/all.atom",
        "next": f"{SITE}/feeds/all/page/3.atom",
        "last": f"{SITE}/feeds/all/page/3.atom",
        "alternate": f"{SITE}/",
    }
    assert [e.link for e in atom.entries] == [f"{SITE}/p/3.html", f"{SITE}/p/2.html"]
    rss_links = {
        link.get("rel"): link.get("href")
        for link in xml_tree(docs["rss"]).findall("channel/atom:link", NS)
    }
    assert rss_links["next"] == f"{SITE}/feeds/all/page/3.rss"
    assert "hub" not in rss_links  # pages are never pinged
    json_feed = parse_json_feed(docs["json"])
    assert json_feed["next_url"] == f"{SITE}/feeds/all/page/3.json"
    assert "hubs" not in json_feed
    last = parse_json_feed(documents(source, number=3, the_site=two)["json"])
    assert "next_url" not in last and len(last["items"]) == 1
    feed = Catalog(two, source.posts()).get("all", "")
    assert make_page(two, source, {}, feed, 4) is None
    assert make_page(two, source, {}, feed, 0) is None


def test_chinese_tags_get_percent_encoded_feed_urls() -> None:
    source = Source.of([post(1, tags=("社区治理", "a/b"))])
    catalog = Catalog(site(), source.posts())
    assert [feed.path for feed in catalog.of_kind("tag")] == [
        "/feeds/tag/a%2Fb",
        "/feeds/tag/%E7%A4%BE%E5%8C%BA%E6%B2%BB%E7%90%86",
    ]
    atom = parse_xml_feed(documents(source, "tag", "社区治理")["atom"], "atom10")
    assert atom.feed.id == f"{SITE}/feeds/tag/%E7%A4%BE%E5%8C%BA%E6%B2%BB%E7%90%86.atom"
    assert atom.feed.title == "厦门新闻 | 社区治理"


def test_hub_and_ttl_follow_the_settings(source: Source) -> None:
    quiet = site(feeds__hub="", feeds__max_age=30)
    docs = documents(source, the_site=quiet)
    channel = xml_tree(docs["rss"]).find("channel")
    assert channel.find("ttl") is None
    assert [link.get("rel") for link in channel.findall("atom:link", NS)] == ["self"]
    assert "hubs" not in parse_json_feed(docs["json"])
    hourly = documents(source, the_site=site(feeds__max_age=3600))
    assert xml_tree(hourly["rss"]).findtext("channel/ttl") == "60"


def test_a_feed_without_posts_is_still_valid() -> None:
    docs = documents(Source.of([]))
    parse_xml_feed(docs["rss"], "rss20")
    assert parse_xml_feed(docs["atom"], "atom10").feed.updated == "1970-01-01T00:00:00+00:00"
    assert parse_json_feed(docs["json"])["items"] == []


def test_opml_lists_every_category_and_tag_feed(source: Source) -> None:
    the_site = site()
    body = opml(the_site, Catalog(the_site, source.posts()))
    urls = [o.get("xmlUrl") for o in etree.fromstring(body).iter("outline") if o.get("xmlUrl")]
    assert urls == [
        f"{SITE}/feeds/all.rss",
        f"{SITE}/feeds/category/shamenwanbao.rss",
        f"{SITE}/feeds/category/xiamenribao.rss",
        f"{SITE}/feeds/tag/%E4%BA%A4%E9%80%9A.rss",
        f"{SITE}/feeds/tag/%E6%B0%91%E7%94%9F.rss",
    ]
