"""What a printer card says, derived in one place, and its HTML fragment.

:func:`printer_card` turns a printer's live state (Redis), its row (bed, maintenance) and the job on it into a
:class:`PrinterCard`: the status people see (:class:`CardState`), the current job (code and nickname only),
progress, the expected finish, temperatures and which staff actions apply. Every surface shows that card:
``/api/printers`` and the SSE stream carry :meth:`PrinterCard.public`, and the wall, the staff console and
``/j/{code}`` show :func:`render_card`'s fragment (``templates/_printer_card.html``), which the live hub renders
once per change, language and variant and sends over SSE; the pages' JavaScript only swaps it in.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from markupsafe import Markup

from printfleet.config import PrinterConfig, SiteConfig
from printfleet.models import JobStatus, Printer
from printfleet.queue.lifecycle import ON_PRINTER
from printfleet.state import PrinterState, PrinterStatus

if TYPE_CHECKING:
    import gettext

    from printfleet.web.i18n import Formatter
    from printfleet.web.queueview import JobBrief

logger = logging.getLogger(__name__)

#: the two ways a card is shown: on the wall (anyone) and on the staff console (with actions and staff notes)
VARIANTS = ("wall", "staff")
#: below this much progress the printer's own fraction says too little about the finish; the estimate is used
MIN_PROGRESS_FOR_ETA = 0.05


class CardState(StrEnum):
    """What a printer card says the printer is doing, bed and maintenance included."""

    PRINTING = "printing"
    PAUSED = "paused"
    STARTING = "starting"  # a job is on its way to the printer (assigned, slicing, uploading)
    BUSY = "busy"  # the printer is between states (pausing, cancelling, connecting)
    BED_NOT_CLEAR = "bed_not_clear"  # after a print, a cancel or a restart, until someone confirms it
    FREE = "free"  # ready for the next job
    MAINTENANCE = "maintenance"
    ERROR = "error"
    OFFLINE = "offline"


class CardAction(StrEnum):
    """What staff may do to a printer in its current state."""

    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    BED_CLEAR = "bed_clear"
    MAINTENANCE_ON = "maintenance_on"
    MAINTENANCE_OFF = "maintenance_off"


#: the API route (below ``/api/printers/{id}/``) and JSON body of each action
ACTION_ROUTES: dict[CardAction, tuple[str, dict[str, Any] | None]] = {
    CardAction.PAUSE: ("pause", None),
    CardAction.RESUME: ("resume", None),
    CardAction.CANCEL: ("cancel", None),
    CardAction.BED_CLEAR: ("bed-clear", None),
    CardAction.MAINTENANCE_ON: ("maintenance", {"enabled": True}),
    CardAction.MAINTENANCE_OFF: ("maintenance", {"enabled": False}),
}


@dataclass(frozen=True, slots=True)
class CardJob:
    """The job a card shows: on the printer, or done and waiting to be picked up from its bed."""

    id: int
    code: str
    nickname: str
    status: str


@dataclass(frozen=True, slots=True)
class PrinterCard:
    """Everything a printer card shows. No address, key, file name or full user name."""

    id: str
    name: str
    material: str
    colour: str
    nozzle_mm: float
    build_volume_mm: tuple[float, ...]
    state: CardState
    printer_status: str
    bed_clear: bool
    maintenance: bool
    maintenance_reason: str | None
    error: str | None
    job: CardJob | None
    progress: float | None
    remaining_s: float | None
    eta_at: float | None
    nozzle_temp: tuple[float | None, float | None] | None
    bed_temp: tuple[float | None, float | None] | None
    observed_at: float | None
    actions: tuple[CardAction, ...]

    @property
    def percent(self) -> int | None:
        """Whole per cent done (rounded down, so 100 means done)."""
        return None if self.progress is None else min(100, math.floor(self.progress * 100 + 1e-6))

    def display_key(self) -> tuple[object, ...]:
        """What the card's HTML depends on: equal keys render to the same fragment (cheaper than
        :meth:`display`, which the renderer uses)."""
        eta = None if self.eta_at is None else round(self.eta_at / 60.0)
        return (self.state, self.name, self.material, self.colour, self.nozzle_mm, self.bed_clear, self.maintenance,
                self.maintenance_reason, self.error, self.job, self.percent, eta, _whole(self.nozzle_temp),
                _whole(self.bed_temp), self.actions)

    def display(self) -> PrinterCard:
        """The card as its HTML shows it (whole per cent and degrees, the finish to the minute): equal displays
        render to the same fragment."""
        return replace(
            self,
            progress=None if self.progress is None else self.percent / 100,  # type: ignore[operator]
            remaining_s=None,
            eta_at=None if self.eta_at is None else 60.0 * round(self.eta_at / 60.0),
            nozzle_temp=_whole(self.nozzle_temp),
            bed_temp=_whole(self.bed_temp),
            observed_at=None,
        )

    def public(self) -> dict[str, Any]:
        """The card as JSON (``GET /api/printers``, the SSE ``printer`` event); see ``PrinterPublic``."""
        return {
            "id": self.id,
            "name": self.name,
            "status": self.printer_status,
            "state": self.state.value,
            "maintenance": self.maintenance,
            "bed_clear": self.bed_clear,
            "material": self.material,
            "colour": self.colour,
            "nozzle_mm": self.nozzle_mm,
            "build_volume_mm": list(self.build_volume_mm),
            "progress": self.progress,
            "remaining_s": self.remaining_s,
            "eta": _iso(self.eta_at),
            "nozzle_temp": _temp_public(self.nozzle_temp),
            "bed_temp": _temp_public(self.bed_temp),
            "error": self.error,
            "observed_at": _iso(self.observed_at),
            "job": (
                {"id": self.job.id, "code": self.job.code, "nickname": self.job.nickname, "status": self.job.status}
                if self.job is not None else None
            ),
            "actions": [action.value for action in self.actions],
        }


def _whole(temp: tuple[float | None, float | None] | None) -> tuple[float | None, float | None] | None:
    if temp is None:
        return None
    actual, target = temp
    return (None if actual is None else float(round(actual)), None if target is None else float(round(target)))


def _iso(ts: float | None) -> str | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def _temp_public(temp: tuple[float | None, float | None] | None) -> dict[str, float | None] | None:
    return None if temp is None else {"actual": temp[0], "target": temp[1]}


def _temp(state: PrinterState | None, *heaters: str) -> tuple[float | None, float | None] | None:
    if state is None or state.status is PrinterStatus.OFFLINE:
        return None
    for heater in heaters:
        temp = state.temp(heater)
        if temp is not None:
            return (temp.actual, temp.target)
    return None


def shows_the_same(card: PrinterCard, old: PrinterState | None, new: PrinterState) -> bool:
    """Whether ``new`` leaves everything ``card`` (derived from ``old``) shows as it is: the same status, job
    progress and error, temperatures within the same whole degrees (most announcements are a heater's reading
    moving by a tenth of a degree). The card's JSON still has the old readings."""
    return (
        old is not None
        and old.status is new.status
        and old.job == new.job
        and old.error == new.error
        and _whole(_temp(new, "tool0", "nozzle", "tool")) == _whole(card.nozzle_temp)
        and _whole(_temp(new, "bed")) == _whole(card.bed_temp)
    )


def expected_end_at(state: PrinterState | None, *, estimate_s: float | None, started_at: float | None,
                    now: float) -> float | None:
    """When the print on the printer should end (Unix seconds), or ``None`` when nobody can say.

    The one place cards get a finish time from (``printfleet.eta.expected_end_at`` replaces it): from the
    printer's own progress (its print time over the fraction done) once past ``MIN_PROGRESS_FOR_ETA``, else
    from the start and our estimate, else from the printer's time left. Not while paused.
    """
    if state is None or state.status is not PrinterStatus.PRINTING:
        return None
    job = state.job
    fraction = job.fraction if job is not None else None
    elapsed = job.elapsed_s if job is not None else None
    end: float | None = None
    if fraction is not None and elapsed is not None and fraction >= MIN_PROGRESS_FOR_ETA:
        base = started_at if started_at is not None else state.observed_ts - elapsed
        end = base + elapsed / fraction
    elif started_at is not None and estimate_s:
        end = started_at + estimate_s
    elif job is not None and job.remaining_s is not None:
        end = state.observed_ts + job.remaining_s
    if end is None or end < now - 60.0:
        return None  # overdue: a time in the past would mislead
    return end


def printer_card(cfg: PrinterConfig, state: PrinterState | None, *, row: Printer | None, job: JobBrief | None,
                 pickup: JobBrief | None = None, now: float) -> PrinterCard:
    """Derive what a printer's card says.

    Args:
        cfg: the printer in the fleet file.
        state: its newest live state (``None``: never heard from, shown offline).
        row: its database row: whether the bed is clear (no row: not known to be clear, as the scheduler
            sees it) and maintenance.
        job: the job on it (assigned, slicing, uploading, printing or paused), if any.
        pickup: the newest done job printed on it, shown while it is on the bed (finished after the bed was
            last cleared, and the bed not cleared since).
        now: the time (Unix seconds).
    """
    status = state.status if state is not None else PrinterStatus.OFFLINE
    bed_clear = bool(row.bed_clear) if row is not None else False
    maintenance = bool(row.maintenance) if row is not None else False
    on_printer = job is not None and job.status in ON_PRINTER
    active = status in (PrinterStatus.PRINTING, PrinterStatus.PAUSED)
    if active:
        card_state = CardState.PRINTING if status is PrinterStatus.PRINTING else CardState.PAUSED
    elif maintenance:
        card_state = CardState.MAINTENANCE
    elif status is PrinterStatus.OFFLINE:
        card_state = CardState.OFFLINE
    elif status is PrinterStatus.ERROR:
        card_state = CardState.ERROR
    elif status is PrinterStatus.BUSY:
        card_state = CardState.BUSY
    elif on_printer:
        card_state = CardState.STARTING
    elif not bed_clear:
        card_state = CardState.BED_NOT_CLEAR
    else:
        card_state = CardState.FREE

    actions: list[CardAction] = []
    if status is PrinterStatus.PRINTING:
        actions.append(CardAction.PAUSE)
    if status is PrinterStatus.PAUSED:
        actions.append(CardAction.RESUME)
    if active:
        actions.append(CardAction.CANCEL)
    if not bed_clear and not on_printer and not active and status is not PrinterStatus.BUSY:
        actions.append(CardAction.BED_CLEAR)
    actions.append(CardAction.MAINTENANCE_OFF if maintenance else CardAction.MAINTENANCE_ON)

    shown = job
    if shown is None and pickup is not None and not bed_clear:
        cleared_at = row.bed_cleared_at.timestamp() if row is not None and row.bed_cleared_at is not None else None
        if cleared_at is None or (pickup.finished_at or 0.0) > cleared_at:
            shown = pickup  # still on the bed
    progress_job = state.job if state is not None and active else None
    return PrinterCard(
        id=cfg.id,
        name=cfg.name,
        material=cfg.material,
        colour=cfg.colour,
        nozzle_mm=cfg.nozzle_mm,
        build_volume_mm=tuple(cfg.build_volume_mm),
        state=card_state,
        printer_status=status.value,
        bed_clear=bed_clear,
        maintenance=maintenance,
        maintenance_reason=(row.maintenance_reason or None) if row is not None and maintenance else None,
        error=(state.error or None) if state is not None and status is PrinterStatus.ERROR else None,
        job=CardJob(shown.id, shown.code, shown.nickname, shown.status.value) if shown is not None else None,
        progress=progress_job.fraction if progress_job is not None else None,
        remaining_s=progress_job.remaining_s if progress_job is not None else None,
        eta_at=expected_end_at(
            state,
            estimate_s=job.est_print_time_s if job is not None else None,
            started_at=job.started_at if job is not None else None,
            now=now,
        ),
        nozzle_temp=_temp(state, "tool0", "nozzle", "tool"),
        bed_temp=_temp(state, "bed"),
        observed_at=state.observed_ts if state is not None else None,
        actions=tuple(actions),
    )


# ---------------------------------------------------------------- words and HTML


def state_text(state: CardState, t: gettext.NullTranslations) -> str:
    """What a card's status line says, in the page's language."""
    words = {
        CardState.PRINTING: t.gettext("printing"),
        CardState.PAUSED: t.gettext("paused"),
        CardState.STARTING: t.gettext("starting"),
        CardState.BUSY: t.gettext("busy"),
        CardState.BED_NOT_CLEAR: t.gettext("bed not clear"),
        CardState.FREE: t.gettext("free"),
        CardState.MAINTENANCE: t.gettext("maintenance"),
        CardState.ERROR: t.gettext("error"),
        CardState.OFFLINE: t.gettext("offline"),
    }
    return words[state]


def action_texts(t: gettext.NullTranslations) -> dict[CardAction, str]:
    """The staff buttons' words."""
    return {
        CardAction.PAUSE: t.gettext("Pause"),
        CardAction.RESUME: t.gettext("Resume"),
        CardAction.CANCEL: t.gettext("Cancel print"),
        CardAction.BED_CLEAR: t.gettext("Bed is clear"),
        CardAction.MAINTENANCE_ON: t.gettext("Start maintenance"),
        CardAction.MAINTENANCE_OFF: t.gettext("End maintenance"),
    }


def card_words(t: gettext.NullTranslations) -> dict[str, str]:
    """The card's other words (translated once per language: the template's own ``_()`` costs more than the
    rest of a card)."""
    return {
        "done_about": t.gettext("done about %(time)s"),
        "pickup": t.gettext("ready for pickup"),
        "maintenance_next": t.gettext("maintenance after this print"),
        "bed_not_clear": t.gettext("bed not clear"),
        "printer_says": t.gettext("The printer says: %(message)s"),
        "nozzle": t.gettext("Nozzle"),
        "bed": t.gettext("Bed"),
        "why_cancel": t.gettext("Why? (optional)"),
        "why_maintenance": t.gettext("Why? (shown to staff)"),
    }


@dataclass(frozen=True)
class CardLanguage:
    """What rendering cards in one language needs: the template, catalog, formatter and words, with the
    formatted numbers, times and colours kept (Babel's formatting costs more than the template)."""

    code: str
    t: gettext.NullTranslations
    fmt: Formatter
    template: Any
    actions: dict[CardAction, str]
    words: dict[str, str]
    labels: dict[CardState, str]
    _percents: dict[int, str] = field(default_factory=dict)
    _times: dict[tuple[float, dt.date], str] = field(default_factory=dict)
    _colours: dict[str, str] = field(default_factory=dict)

    def percent(self, value: int) -> str:
        """``42 %`` in this language."""
        text = self._percents.get(value)
        if text is None:
            text = self._percents[value] = self.fmt.percent(value / 100)
        return text

    def when(self, ts: float, now: float) -> str:
        """A time (a day and time when not today), as :meth:`Formatter.when`."""
        key = (ts, dt.datetime.fromtimestamp(now, self.fmt.tz).date())
        text = self._times.get(key)
        if text is None:
            if len(self._times) > 20_000:
                self._times.clear()
            text = self._times[key] = self.fmt.when(ts, now)
        return text

    def colour(self, colour: str) -> str:
        """A colour's name in this language."""
        from printfleet.web.reasons import colour_name

        text = self._colours.get(colour)
        if text is None:
            text = self._colours[colour] = colour_name(colour, self.t)
        return text


@lru_cache(maxsize=8)
def card_language(code: str, site: SiteConfig) -> CardLanguage:
    """The rendering context of one language (cached)."""
    from printfleet.web.i18n import Formatter, format_locale, translations
    from printfleet.web.pages import environment  # the pages import the hub, which imports this module

    t = translations(code)
    return CardLanguage(code, t, Formatter(format_locale(code, site.locale), site.tz),
                        environment(code).get_template("_printer_card.html"), action_texts(t), card_words(t),
                        {state: state_text(state, t) for state in CardState})


def render_card(card: PrinterCard, lang: str, variant: str, site: SiteConfig, *, now: float) -> Markup:
    """The card's HTML fragment in one language, for the wall (``wall``) or the staff console (``staff``)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown card variant {variant!r}")
    language = card_language(lang, site)
    shown = card.display()
    html = language.template.render(
        c=shown,
        staff=variant == "staff",
        label=language.labels[shown.state],
        colour=language.colour(shown.colour),
        percent=language.percent(shown.percent) if shown.percent is not None else None,
        eta=language.when(shown.eta_at, now) if shown.eta_at is not None else None,
        actions=[(action, language.actions[action], ACTION_ROUTES[action]) for action in shown.actions],
        w=language.words,
    )
    return Markup(html.strip())


def newest_pickup(pickup: list[JobBrief]) -> dict[str, JobBrief]:
    """The newest done job of each printer (``pickup`` is newest first), for :func:`printer_card`."""
    newest: dict[str, JobBrief] = {}
    for brief in pickup:
        if brief.printer_id and brief.printer_id not in newest and brief.status is JobStatus.DONE:
            newest[brief.printer_id] = brief
    return newest


#: the wall's printer area on a 1920x1080 screen (px, after the header and the side column) and the card shape
#: that holds a card's lines best (width : height)
WALL_AREA_PX = (1380.0, 960.0)
WALL_CARD_ASPECT = 1.7
#: more printers than this do not fit one screen legibly: the wall keeps this many columns and scrolls
WALL_MAX_FIT = 60
WALL_MAX_COLS = 8
#: from this many rows on, cards leave out material and temperatures
WALL_DENSE_ROWS = 5


class WallGrid(NamedTuple):
    """How the wall lays out its cards."""

    cols: int
    rows: int
    dense: bool  # small cards: the essentials only
    scroll: bool  # more printers than one screen holds: fixed rows, the printer area scrolls


def wall_grid(count: int) -> WallGrid:
    """Columns and rows of the wall's cards: the grid that makes ``count`` cards of about
    ``WALL_CARD_ASPECT`` as large as they can be in ``WALL_AREA_PX`` (the type scales with the card); beyond
    ``WALL_MAX_FIT`` printers, ``WALL_MAX_COLS`` columns and as many rows as needed."""
    count = max(1, count)
    if count > WALL_MAX_FIT:
        return WallGrid(WALL_MAX_COLS, math.ceil(count / WALL_MAX_COLS), dense=True, scroll=True)
    width, height = WALL_AREA_PX
    best = (1, count)
    best_scale = -1.0
    for cols in range(1, count + 1):
        rows = math.ceil(count / cols)
        scale = min(width / cols / WALL_CARD_ASPECT, height / rows)
        if scale > best_scale + 1e-9:
            best, best_scale = (cols, rows), scale
    return WallGrid(best[0], best[1], dense=best[1] >= WALL_DENSE_ROWS, scroll=False)
