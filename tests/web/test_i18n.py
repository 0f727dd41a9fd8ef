"""The gettext catalogs: complete in German, compiled, and used by the pages; times in the site's timezone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from printfleet.queue.policy import Reason, ReasonCode
from printfleet.web.i18n import LOCALES_DIR, Formatter, pick_locale, translations
from printfleet.web.reasons import reason_text, status_text

WEB = Path(LOCALES_DIR).parent
METHODS = [("templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def source_messages() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(str(WEB), METHODS, OPTIONS):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_every_message_is_translated_to_german_and_compiled() -> None:
    po_path = LOCALES_DIR / "de" / "LC_MESSAGES" / "messages.po"
    catalog = read_po(po_path.open("rb"))
    translated = {(m.id[0] if isinstance(m.id, tuple) else m.id) for m in catalog if m.id and m.string and not m.fuzzy}
    missing = source_messages() - translated
    assert not missing, f"add these to {po_path} (pybabel extract/update, then translate): {sorted(missing)}"
    assert translations("de").gettext("queued") == "in der Warteschlange"  # the catalog is what the pages use


def test_locale_choice() -> None:
    assert pick_locale(None, None, "de") == "de"
    assert pick_locale("en", "de", "de") == "en"
    assert pick_locale(None, "en-GB", "de") == "en"
    assert pick_locale("fr", None, "de_AT") == "de"
    assert pick_locale("xx", "yy", "zz") == "en"


def test_reasons_and_statuses_in_both_languages() -> None:
    fmt_de = Formatter("de", ZoneInfo("Europe/Berlin"))
    fmt_en = Formatter("en", ZoneInfo("Europe/Berlin"))
    now = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.UTC).timestamp()
    reason = Reason(ReasonCode.WAITING_FOR_PRINTER, {"material": "PLA", "colour": "black", "ahead": 2,
                                                     "start_at": now + 3600})
    de = reason_text(reason, translations("de"), fmt_de, now)
    en = reason_text(reason, translations("en"), fmt_en, now)
    assert de == "wartet auf einen freien Drucker mit PLA in schwarz (2 Aufträge davor) (voraussichtlicher Start 12:00)"
    assert en.startswith("waiting for a free printer with black PLA (2 jobs ahead) (expected start 12:00")
    for code in ReasonCode:  # every code has words, whatever its parameters
        params = {"start_at": now, "printer": "mk3s-1", "material": "PLA", "limit_s": 3600, "limit_g": 100,
                  "needed": 1, "need": "size", "bbox_mm": (1, 2, 3), "max_jobs": 1}
        assert reason_text(Reason(code, params), translations("de"), fmt_de, now) != code.value
    assert status_text("done", translations("de")) == "zum Abholen bereit"


def test_times_in_the_site_timezone() -> None:
    fmt = Formatter("de", ZoneInfo("Europe/Berlin"))
    winter = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)
    assert fmt.datetime(winter) == "05.01.26, 13:00"
    assert fmt.when(winter, now=winter) == "13:00"
    assert fmt.number(1234.5, 1) == "1.234,5"
    assert Formatter("en", ZoneInfo("UTC")).number(1234.5, 1) == "1,234.5"
    assert fmt.duration(3900) == "1 h 05 min"
