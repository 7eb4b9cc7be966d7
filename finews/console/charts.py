"""Charts as SVG drawn on the server with pygal, embedded in the page: readable without
JavaScript and with nothing fetched from elsewhere.

The console's Content-Security-Policy allows no inline script or style, so each chart is
rendered without pygal's script (`js=[]`), and its `<style>`, `<script>` and `style=`
attributes are cut out; the rules pygal would have inlined are served once, as the
stylesheet `charts.css`, made from pygal's own CSS at start-up with its per-chart id
replaced by the `.pygal-chart` class every chart carries.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence

import pygal
from markupsafe import Markup
from pygal.style import Style

STYLE = Style(
    background="transparent",
    plot_background="#fafafa",
    font_family="system-ui, sans-serif",
    colors=(
        "#2e7d32", "#c62828", "#1565c0", "#ef6c00", "#6a1b9a",
        "#00838f", "#9e9d24", "#4e342e", "#ad1457", "#37474f",
        "#283593", "#558b2f",
    ),
)  # fmt: skip
SERIES_MAX = len(STYLE.colors)
_INLINE = re.compile(r"<style[^>]*>.*?</style>|<script[^>]*>.*?</script>|\sstyle=\"[^\"]*\"", re.S)
_ID = re.compile(r"#chart-[0-9a-f-]+")


def _options(title: str) -> dict[str, object]:
    return {
        "title": title,
        "js": [],
        "style": STYLE,
        "width": 720,
        "height": 300,
        "disable_xml_declaration": True,
        "explicit_size": False,
        "legend_at_bottom": True,
        "x_label_rotation": 0,
        "show_minor_x_labels": False,
        "truncate_legend": 24,
        "print_values": False,
        "no_data_text": "–",
    }


def _svg(chart: pygal.graph.graph.Graph) -> Markup:
    text = chart.render(is_unicode=True)
    return Markup(_INLINE.sub("", text))  # pygal escapes every label


def series(
    title: str,
    labels: Sequence[str],
    lines: Mapping[str, Sequence[int]],
    *,
    kind: str = "line",
    major_every: int = 1,
) -> Markup:
    """Several series over the same labels: lines, bars or stacked bars (`kind`)."""
    make = {"line": pygal.Line, "bar": pygal.Bar, "stacked": pygal.StackedBar}[kind]
    chart = make(**_options(title), fill=kind == "line")
    chart.x_labels = list(labels)
    chart.x_labels_major = list(labels[::major_every])
    for name, values in list(lines.items())[:SERIES_MAX]:
        chart.add(name, list(values))
    return _svg(chart)


def shares(title: str, counts: Mapping[str, int]) -> Markup:
    """Parts of a whole (sources, device classes) as a bar per name, most first."""
    chart = pygal.HorizontalBar(**_options(title))
    for name, n in sorted(counts.items(), key=lambda kv: -kv[1])[:SERIES_MAX]:
        chart.add(name, n)
    return _svg(chart)


@functools.cache
def stylesheet() -> str:
    """pygal's CSS for every series colour, scoped to `.pygal-chart`."""
    chart = pygal.Line(js=[], style=STYLE)
    for n in range(SERIES_MAX):
        chart.add(str(n), [n])
    text = chart.render(is_unicode=True)
    css = "\n".join(re.findall(r"<style[^>]*>(.*?)</style>", text, re.S))
    return _ID.sub(".pygal-chart", css)
