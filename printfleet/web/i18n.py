"""Languages, times and numbers for the pages: gettext catalogs (Babel) and the site's timezone.

The catalogs live in ``printfleet/web/locales/<lang>/LC_MESSAGES/messages.po`` and are compiled in memory when
first used (no ``.mo`` files to keep in step). After changing texts: ``pybabel extract -F babel.cfg -o
printfleet/web/locales/messages.pot .`` then ``pybabel update -i printfleet/web/locales/messages.pot -d
printfleet/web/locales`` and translate what is new.
The site's ``locale`` in the fleet file is the default; a visitor switches with ``?lang=de|en`` (kept in a
cookie).
"""

from __future__ import annotations

import datetime as dt
import gettext
import io
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import dates, numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

logger = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).with_name("locales")
DOMAIN = "messages"
SUPPORTED_LOCALES = ("de", "en")
LANG_COOKIE = "pf_lang"


@lru_cache(maxsize=8)
def translations(locale: str) -> gettext.NullTranslations:
    """The catalog for ``locale``, compiled from its ``.po`` file (English, the source language, falls back to
    the msgids)."""
    po_path = LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po_path.is_file():
        return gettext.NullTranslations()
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=locale, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def normalise_locale(value: str | None) -> str | None:
    """``de_DE``/``de-AT``/``DE`` -> ``de``; ``None`` when not a supported language."""
    if not value:
        return None
    lang = value.replace("-", "_").split("_")[0].strip().lower()
    return lang if lang in SUPPORTED_LOCALES else None


def pick_locale(query_lang: str | None, cookie_lang: str | None, site_default: str) -> str:
    """The page language: the visitor's explicit choice, else the site default, else English."""
    return normalise_locale(query_lang) or normalise_locale(cookie_lang) or normalise_locale(site_default) or "en"


#: regional conventions for a page language when the site's locale does not name one (24-hour clocks)
_DEFAULT_REGIONS = {"de": "de_DE", "en": "en_GB"}


def format_locale(lang: str, site_locale: str) -> str:
    """The locale for dates and numbers: the site's own (e.g. ``en_US``) when it is in the page's language."""
    if site_locale.split("_")[0].lower() == lang and "_" in site_locale:
        return site_locale
    return _DEFAULT_REGIONS.get(lang, lang)


@dataclass(frozen=True)
class Formatter:
    """Times in the site's timezone and numbers in the page's language."""

    locale: str
    tz: ZoneInfo

    def datetime(self, value: dt.datetime | float | str | None) -> str:
        """Date and time, e.g. ``28.11.2026, 14:30``."""
        if value is None:
            return "–"
        value = _aware(value)
        return dates.format_datetime(value, "short", tzinfo=self.tz, locale=self.locale)

    def when(self, value: dt.datetime | float | str | None, now: dt.datetime | float | None = None) -> str:
        """Just the time when ``value`` is today (site timezone), otherwise a short date and time."""
        if value is None:
            return "–"
        value = _aware(value)
        today = _aware(now if now is not None else dt.datetime.now(dt.UTC)).astimezone(self.tz).date()
        local = value.astimezone(self.tz)
        if local.date() == today:
            return dates.format_time(value, "short", tzinfo=self.tz, locale=self.locale)
        day = dates.format_skeleton("MMMEd", value, tzinfo=self.tz, locale=self.locale)  # no date+time skeleton
        return f"{day} {dates.format_time(value, 'short', tzinfo=self.tz, locale=self.locale)}"

    def number(self, value: float | None, digits: int = 0) -> str:
        """A number with the locale's separators."""
        if value is None:
            return "–"
        fmt = "#,##0" + ("." + "0" * digits if digits else "")
        return numbers.format_decimal(value, format=fmt, locale=self.locale)

    def duration(self, seconds: float | None) -> str:
        """``1 h 05 min`` style (the same in both languages)."""
        if seconds is None:
            return "–"
        minutes = max(0, round(seconds / 60))
        hours, minutes = divmod(minutes, 60)
        return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"

    def percent(self, fraction: float | None) -> str:
        """``42 %`` in the locale's style."""
        if fraction is None:
            return "–"
        return numbers.format_percent(fraction, locale=self.locale)


def _aware(value: dt.datetime | float | str) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
