"""The gettext catalogues: every string the code marks has a Chinese translation, and the
loader falls back to English for languages without a catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from finews.core.i18n import translations

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = {
    "feeds": ["feeds/labels.py"],
    "shortlinks": ["shortlinks/pages.py", "shortlinks/preview.py"],
}


@pytest.mark.parametrize("domain", sorted(CATALOGUES))
def test_every_marked_string_has_a_chinese_translation(domain: str) -> None:
    marked = {
        message
        for source in CATALOGUES[domain]
        for _, message, _, _ in extract_from_file("python", ROOT / source)
    }
    assert len(marked) >= 10
    po = ROOT / domain / "locale" / "zh_CN" / "LC_MESSAGES" / f"{domain}.po"
    with po.open("rb") as source:
        catalog = read_po(source)
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    assert marked - translated == set()
    assert translated - marked == set()  # no stale entries either


def test_languages_find_their_catalogue_or_fall_back_to_english() -> None:
    folder = ROOT / "shortlinks" / "locale"
    assert translations(folder, "shortlinks", "zh-CN").gettext("Status") == "状态"
    assert translations(folder, "shortlinks", "zh").gettext("Status") == "状态"
    assert translations(folder, "shortlinks", "en").gettext("Status") == "Status"
    assert translations(folder, "shortlinks", "fr-FR").gettext("Status") == "Status"
