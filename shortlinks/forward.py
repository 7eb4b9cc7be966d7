"""Passing a click's query string on to the article, as Shlink's `forwardQuery` does.

`/s/CODE?utm_source=weibo` redirects to the target with `utm_source=weibo` added: the
target's own parameters are kept as they are (a parameter both carry keeps the target's
value), the click's others follow. WeChat's own parameters (WECHAT_PARAMETERS) and the
legacy share form's `infoCode` say nothing to the article and are dropped. A link with
`forward_query: false` redirects to its target exactly.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from shortlinks import paths

# Parameters WeChat appends to every shared link (and the legacy form's code).
WECHAT_PARAMETERS = frozenset(
    {
        "from",
        "isappinstalled",
        "scene",
        "subscene",
        "clicktime",
        "enterid",
        "sessionid",
        "ascene",
        "devicetype",
        "pass_ticket",
        "wx_header",
        "exportkey",
        "nettype",
        "abtest_cookie",
        "wxfrom",
    }
)
DROPPED = WECHAT_PARAMETERS | {paths.LEGACY_PARAMETER.lower()}


def forward(location: str, raw_query: str) -> str:
    """`location` (an encoded Location value) with the click's query merged in."""
    if not raw_query:
        return location
    parts = urlsplit(location)
    own = parse_qsl(parts.query, keep_blank_values=True)
    have = {name for name, _ in own}
    extra = [
        (name, value)
        for name, value in parse_qsl(raw_query, keep_blank_values=True)
        if name and name not in have and name.lower() not in DROPPED
    ]
    if not extra:
        return location
    added = urlencode(extra, quote_via=quote)
    query = f"{parts.query}&{added}" if parts.query else added
    return urlunsplit(parts._replace(query=query))
