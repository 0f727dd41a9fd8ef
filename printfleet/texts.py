"""Texts people see, marked for translation where they are defined and translated where they are shown.

The parts below the web (the queue, the monitor, the workers) store and raise codes, English templates and
parameters; the pages and the API render them in the reader's language through the gettext catalogs
(``printfleet/web/locales``; ``scripts/i18n.sh`` extracts every text marked with :func:`N_`).
"""

from __future__ import annotations


def N_(message: str) -> str:  # the gettext convention: mark now, translate later
    """Mark ``message`` for extraction into the catalogs; it is translated where it is shown."""
    return message
