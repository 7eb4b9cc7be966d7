"""Words for people in the site's language: gettext catalogues read through Babel.

Each feature keeps its translations as `.po` sources in its own folder,
`FEATURE/locale/LANG/LC_MESSAGES/FEATURE.po` (LANG as `zh_CN`). They are compiled in memory
on first use (babel.messages.pofile -> mofile -> gettext), so the `.po` files are all a
checkout or a wheel needs: no build step, and no compiled `.mo` to go stale. A language
without a catalogue gets the English of the source code (gettext's fallback).

`site.language` `zh-CN` finds `zh_CN`; a tag of the same language without its own
catalogue (`zh`, `zh-TW`) finds the first catalogue of that language, as the feeds' words
always did.
"""

from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po


def _candidates(folder: Path, language: str) -> list[str]:
    tag = language.replace("-", "_")
    lang = tag.partition("_")[0]
    others = sorted(p.name for p in folder.glob(f"{lang}_*") if p.is_dir())
    return [tag, lang, *others]


@functools.cache
def translations(folder: Path, domain: str, language: str) -> gettext.NullTranslations:
    """The catalogue of `domain` under `folder` for a language tag such as `zh-CN`."""
    for name in _candidates(folder, language):
        source = folder / name / "LC_MESSAGES" / f"{domain}.po"
        if source.is_file():
            with source.open("rb") as po:
                catalog = read_po(po, locale=name, domain=domain)
            compiled = io.BytesIO()
            write_mo(compiled, catalog)
            compiled.seek(0)
            return gettext.GNUTranslations(compiled)
    return gettext.NullTranslations()


def babel_locale(language: str) -> Locale:
    """The Babel locale for a language tag (dates, numbers), English when Babel has none."""
    try:
        return Locale.parse(language, sep="-")
    except (ValueError, UnknownLocaleError):
        return Locale("en")
