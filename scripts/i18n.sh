#!/usr/bin/env bash
# Refresh the gettext catalogs after changing texts: extract every marked text, merge it into the German and
# English catalogs (keeping their translations). Then translate what is new (empty msgstr, or marked fuzzy) in
# printfleet/web/locales/de/LC_MESSAGES/messages.po; tests/web/test_i18n.py fails until every text is translated.
set -euo pipefail
cd "$(dirname "$0")/.."
pybabel=${PYBABEL:-.venv/bin/pybabel}
"$pybabel" -q extract -F babel.cfg -k _ -k gettext -k ngettext:1,2 -k N_ -k lazy_gettext \
  --no-location --sort-output --width 120 -o printfleet/web/locales/messages.pot .
"$pybabel" -q update --no-fuzzy-matching --width 120 -i printfleet/web/locales/messages.pot -d printfleet/web/locales
