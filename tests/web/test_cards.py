"""The printer card: one function derives what a printer card says, and every surface shows that card.

The first tests call :func:`printfleet.web.cards.printer_card` directly (pure); the rest run the app with real
Redis and check the wall, the staff console, ``/api/printers``, the SSE stream and ``/j/{code}``.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from printfleet import db
from printfleet.config import load_fleet
from printfleet.models import Job, JobStatus, Printer
from printfleet.queue.dispatch import announce_jobs_changed
from printfleet.settings import Settings
from printfleet.state import JobProgress, PrinterState, PrinterStatus, StateSource, Temperature
from printfleet.store import StateStore
from printfleet.web.cards import CardAction, CardState, printer_card, render_card
from printfleet.web.queueview import JobBrief
from tests.web.conftest import Actor, login, upload_job, wait_for

SHIPPED = Path(__file__).resolve().parents[2] / "configs" / "printers.yaml"
NOW = dt.datetime(2026, 11, 28, 14, 0, tzinfo=dt.UTC)  # 15:00 in Berlin


def cfg(printer_id: str = "mk3s-1"):
    return load_fleet(SHIPPED).printer(printer_id)


def state(status: PrinterStatus, *, fraction: float | None = None, elapsed_s: float | None = None,
          error: str | None = None, at: dt.datetime = NOW) -> PrinterState:
    job = JobProgress("x.gcode", fraction, elapsed_s, None) if fraction is not None else None
    return PrinterState("mk3s-1", status, at, StateSource.MQTT, job=job, error=error,
                        temps=(Temperature("tool0", 215.4, 215.0), Temperature("bed", 59.6, 60.0)))


def row(*, bed_clear: bool = True, maintenance: bool = False, reason: str | None = None) -> Printer:
    return Printer(id="mk3s-1", name="Prusa MK3S #1", bed_clear=bed_clear, maintenance=maintenance,
                   maintenance_reason=reason)


def brief(status: JobStatus, *, started_at: float | None = None, estimate_s: float | None = 3600.0) -> JobBrief:
    return JobBrief(id=7, code="K7Q2M", nickname="Ada", owner_id=1, status=status, printer_id="mk3s-1",
                    started_at=started_at, est_print_time_s=estimate_s)


# ---------------------------------------------------------------- the card function (pure)


def test_a_bed_cleared_after_a_print_shows_free() -> None:
    card = printer_card(cfg(), state(PrinterStatus.FINISHED, fraction=1.0), row=row(bed_clear=True), job=None,
                        now=NOW.timestamp())
    assert card.state is CardState.FREE
    assert CardAction.BED_CLEAR not in card.actions


def test_a_finished_print_with_the_bed_not_cleared_shows_bed_not_clear_and_the_job_to_pick_up() -> None:
    done = brief(JobStatus.DONE)
    card = printer_card(cfg(), state(PrinterStatus.FINISHED, fraction=1.0), row=row(bed_clear=False), job=None,
                        pickup=done, now=NOW.timestamp())
    assert card.state is CardState.BED_NOT_CLEAR
    assert card.job is not None and card.job.code == "K7Q2M" and card.job.status == "done"
    assert card.actions == (CardAction.BED_CLEAR, CardAction.MAINTENANCE_ON)


@pytest.mark.parametrize("status", [PrinterStatus.IDLE, PrinterStatus.OFFLINE])
def test_after_a_cancel_or_a_restart_a_bed_not_cleared_is_not_free(status: PrinterStatus) -> None:
    card = printer_card(cfg(), state(status), row=row(bed_clear=False), job=None, now=NOW.timestamp())
    assert card.state is (CardState.BED_NOT_CLEAR if status is PrinterStatus.IDLE else CardState.OFFLINE)
    assert not card.bed_clear and CardAction.BED_CLEAR in card.actions


def test_maintenance() -> None:
    idle = printer_card(cfg(), state(PrinterStatus.IDLE), row=row(maintenance=True, reason="nozzle swap"), job=None,
                        now=NOW.timestamp())
    assert idle.state is CardState.MAINTENANCE and idle.maintenance_reason == "nozzle swap"
    assert idle.actions == (CardAction.MAINTENANCE_OFF,)
    started = NOW.timestamp() - 600
    printing = printer_card(cfg(), state(PrinterStatus.PRINTING, fraction=0.2, elapsed_s=600.0),
                            row=row(maintenance=True), job=brief(JobStatus.PRINTING, started_at=started),
                            now=NOW.timestamp())
    assert printing.state is CardState.PRINTING and printing.maintenance  # the print goes on
    assert printing.actions == (CardAction.PAUSE, CardAction.CANCEL, CardAction.MAINTENANCE_OFF)


def test_offline() -> None:
    unknown = printer_card(cfg(), None, row=row(), job=None, now=NOW.timestamp())
    silent = printer_card(cfg(), state(PrinterStatus.OFFLINE, error="no answer"), row=row(), job=None,
                          now=NOW.timestamp())
    for card in (unknown, silent):
        assert card.state is CardState.OFFLINE and card.progress is None and card.eta_at is None
        assert card.actions == (CardAction.MAINTENANCE_ON,)
    assert silent.error is None  # printfleet's own English reason is not the printer's message


def test_error() -> None:
    card = printer_card(cfg(), state(PrinterStatus.ERROR, error="Thermal Runaway"), row=row(bed_clear=False),
                        job=None, now=NOW.timestamp())
    assert card.state is CardState.ERROR and card.error == "Thermal Runaway"
    assert card.actions == (CardAction.BED_CLEAR, CardAction.MAINTENANCE_ON)


def test_printing_and_paused() -> None:
    started = NOW.timestamp() - 900
    printing = printer_card(cfg(), state(PrinterStatus.PRINTING, fraction=0.25, elapsed_s=900.0), row=row(),
                            job=brief(JobStatus.PRINTING, started_at=started), now=NOW.timestamp())
    assert printing.state is CardState.PRINTING and printing.job is not None and printing.job.nickname == "Ada"
    assert printing.progress == 0.25 and printing.percent == 25
    assert printing.eta_at == pytest.approx(started + 3600.0, abs=1)  # 900 s for a quarter
    assert printing.nozzle_temp == (215.4, 215.0) and printing.bed_temp == (59.6, 60.0)
    assert printing.actions == (CardAction.PAUSE, CardAction.CANCEL, CardAction.MAINTENANCE_ON)
    paused = printer_card(cfg(), state(PrinterStatus.PAUSED, fraction=0.25, elapsed_s=900.0), row=row(),
                          job=brief(JobStatus.PAUSED, started_at=started), now=NOW.timestamp())
    assert paused.state is CardState.PAUSED and paused.eta_at is None  # no finish time while nobody knows
    assert paused.actions == (CardAction.RESUME, CardAction.CANCEL, CardAction.MAINTENANCE_ON)


def test_a_job_on_its_way_to_the_printer() -> None:
    card = printer_card(cfg(), state(PrinterStatus.IDLE), row=row(), job=brief(JobStatus.SLICING), now=NOW.timestamp())
    assert card.state is CardState.STARTING and card.job is not None and card.job.code == "K7Q2M"
    assert card.actions == (CardAction.MAINTENANCE_ON,)


@pytest.mark.parametrize(("lang", "free", "not_clear", "eta"), [
    ("de", "frei", "Druckbett nicht frei", "fertig ca. 15:45"),
    ("en", "free", "bed not clear", "done about 15:45"),
])
def test_the_card_in_both_languages(lang: str, free: str, not_clear: str, eta: str) -> None:
    started = NOW.timestamp() - 900
    cards = {
        "free": printer_card(cfg(), state(PrinterStatus.FINISHED), row=row(), job=None, now=NOW.timestamp()),
        "not_clear": printer_card(cfg(), state(PrinterStatus.IDLE), row=row(bed_clear=False), job=None,
                                  now=NOW.timestamp()),
        "printing": printer_card(cfg(), state(PrinterStatus.PRINTING, fraction=0.25, elapsed_s=900.0), row=row(),
                                 job=brief(JobStatus.PRINTING, started_at=started), now=NOW.timestamp()),
    }
    site = load_fleet(SHIPPED).site
    assert status_of(render_card(cards["free"], lang, "wall", site, now=NOW.timestamp())) == free
    assert status_of(render_card(cards["not_clear"], lang, "wall", site, now=NOW.timestamp())) == not_clear
    printing = render_card(cards["printing"], lang, "wall", site, now=NOW.timestamp())
    assert eta in text_of(printing) and re.search(r"25\s?%", text_of(printing))
    assert "K7Q2M" in printing and "Ada" in printing and "x.gcode" not in printing


def test_staff_buttons_only_where_they_apply_with_a_reason_for_cancel_and_maintenance() -> None:
    started = NOW.timestamp() - 900
    site = load_fleet(SHIPPED).site
    printing = render_card(printer_card(cfg(), state(PrinterStatus.PRINTING, fraction=0.25, elapsed_s=900.0),
                                        row=row(), job=brief(JobStatus.PRINTING, started_at=started),
                                        now=NOW.timestamp()), "en", "staff", site, now=NOW.timestamp())
    assert actions_of(printing) == ["pause", "cancel", "maintenance_on"]
    for action in ("cancel", "maintenance_on"):
        form = re.search(rf'<form[^>]*data-card-action="{action}".*?</form>', printing, re.DOTALL)
        assert form is not None and 'name="reason"' in form.group(0), action
    not_clear = render_card(printer_card(cfg(), state(PrinterStatus.IDLE), row=row(bed_clear=False), job=None,
                                         now=NOW.timestamp()), "de", "staff", site, now=NOW.timestamp())
    assert actions_of(not_clear) == ["bed_clear", "maintenance_on"]
    wall = render_card(printer_card(cfg(), state(PrinterStatus.IDLE), row=row(bed_clear=False), job=None,
                                    now=NOW.timestamp()), "de", "wall", site, now=NOW.timestamp())
    assert actions_of(wall) == [] and "<button" not in wall


# ---------------------------------------------------------------- helpers for the surfaces


def card_of(page: str, printer_id: str) -> str:
    """The card fragment of one printer in a page."""
    found = re.search(rf'<article[^>]*data-printer="{re.escape(printer_id)}".*?</article>', page, re.DOTALL)
    assert found is not None, f"no card for {printer_id}"
    return found.group(0)


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def status_of(fragment: str) -> str:
    found = re.search(r'data-k="status"[^>]*>(.*?)</', fragment, re.DOTALL)
    assert found is not None, fragment
    return text_of(found.group(1))


def actions_of(fragment: str) -> list[str]:
    return re.findall(r'<(?:button|form)[^>]*data-card-action="([a-z_]+)"', fragment)


def sse_events(client: TestClient, url: str) -> Iterator[tuple[str, str]]:
    """``(event, data)`` pairs of a stream, from the snapshot on."""
    with client.stream("GET", url) as stream:
        assert stream.status_code == 200, url
        buffer = ""
        for chunk in stream.iter_text():
            buffer += chunk
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
                if "event" in fields:
                    yield fields["event"], fields.get("data", "")


def put(settings: Settings, *states: PrinterState) -> None:
    store = StateStore.from_url(settings.effective_redis_url)
    try:
        store.put_many(states)
    finally:
        store.close()


def set_printer(settings: Settings, printer_id: str, **fields: object) -> None:
    """Change a printer row as the monitor or a worker does, and announce it."""
    import redis

    engine = db.make_engine(settings.effective_database_url)
    with db.session_scope(engine) as session:
        printer = session.get(Printer, printer_id)
        assert printer is not None
        for name, value in fields.items():
            setattr(printer, name, value)
        printer.updated_at = dt.datetime.now(dt.UTC)
        session.add(printer)
    engine.dispose()
    client = redis.Redis.from_url(settings.effective_redis_url)
    announce_jobs_changed(client, None, "test")
    client.close()


def live_state(status: PrinterStatus, printer_id: str = "mk3s-1", **job: float) -> PrinterState:
    progress = JobProgress("secret-file.gcode", job.get("fraction"), job.get("elapsed_s"), job.get("remaining_s"))
    return PrinterState(printer_id, status, dt.datetime.now(dt.UTC), StateSource.MQTT,
                        job=progress if job else None, temps=(Temperature("tool0", 26.0, 0.0),))


def api_card(client: TestClient, printer_id: str = "mk3s-1") -> dict:
    return client.get(f"/api/printers/{printer_id}").json()


# ---------------------------------------------------------------- every surface


@pytest.mark.integration
def test_a_bed_cleared_after_a_print_is_free_on_the_wall_the_console_and_the_api(
        client: TestClient, actors: dict[str, Actor], web_settings: Settings) -> None:
    set_printer(web_settings, "mk3s-1", bed_clear=False)
    put(web_settings, live_state(PrinterStatus.FINISHED, fraction=1.0, elapsed_s=600.0))
    assert wait_for(lambda: api_card(client)["status"] == "finished" and not api_card(client)["bed_clear"])
    assert "Druckbett nicht frei" in status_of(card_of(client.get("/wall?lang=de").text, "mk3s-1"))

    cleared = client.post("/api/printers/mk3s-1/bed-clear", headers=actors["staff"].headers)
    assert cleared.status_code == 200, cleared.text
    assert wait_for(lambda: api_card(client)["bed_clear"])
    assert status_of(card_of(client.get("/wall?lang=de").text, "mk3s-1")) == "frei"
    assert status_of(card_of(client.get("/wall?lang=en").text, "mk3s-1")) == "free"
    assert api_card(client)["state"] == "free"
    login(client, "staff")
    console = card_of(client.get("/staff?lang=de").text, "mk3s-1")
    assert status_of(console) == "frei" and actions_of(console) == ["maintenance_on"]


@pytest.mark.integration
def test_after_a_cancel_the_bed_not_cleared_is_not_shown_free(
        client: TestClient, actors: dict[str, Actor], web_settings: Settings) -> None:
    set_printer(web_settings, "mk3s-2", bed_clear=False)  # a cancelled print left its bed as it was
    put(web_settings, live_state(PrinterStatus.IDLE, "mk3s-2"))
    assert wait_for(lambda: api_card(client, "mk3s-2")["status"] == "idle" and not api_card(client, "mk3s-2")["bed_clear"])
    for lang, words in (("de", "Druckbett nicht frei"), ("en", "bed not clear")):
        assert status_of(card_of(client.get(f"/wall?lang={lang}").text, "mk3s-2")) == words
    assert api_card(client, "mk3s-2")["state"] == "bed_not_clear"
    assert api_card(client, "mk3s-2")["actions"] == ["bed_clear", "maintenance_on"]


@pytest.mark.integration
def test_one_card_in_json_sse_and_html(client: TestClient, actors: dict[str, Actor], web_settings: Settings) -> None:
    set_printer(web_settings, "mini-1", maintenance=True, maintenance_reason="new nozzle")
    put(web_settings, live_state(PrinterStatus.PRINTING, "mk3s-1", fraction=0.4, elapsed_s=400.0),
        live_state(PrinterStatus.ERROR, "mk3s-2"))
    assert wait_for(lambda: api_card(client)["progress"] == 0.4 and api_card(client, "mini-1")["maintenance"])
    seen: dict[str, dict] = {}
    for event, data in sse_events(client, "/events?lang=de&variant=wall"):
        if event == "printer":
            card = json.loads(data)
            seen[card["id"]] = card
        if len(seen) == 4:
            break
    wall = client.get("/wall?lang=de").text
    for printer_id, card in seen.items():
        fragment = card.pop("html")
        assert card == api_card(client, printer_id), printer_id  # the same JSON as /api/printers
        assert fragment == card_of(wall, printer_id), printer_id  # the same HTML as the page
    assert seen["mini-1"]["state"] == "maintenance" and seen["mk3s-2"]["state"] == "error"
    assert "secret-file" not in wall and "new nozzle" not in wall  # staff's note stays on the console

    with client.stream("GET", "/events?variant=staff") as refused:
        assert refused.status_code == 403  # the staff cards are for staff
    login(client, "staff")
    console = client.get("/staff?lang=en").text
    for event, data in sse_events(client, "/events?lang=en&variant=staff"):
        if event == "printer" and json.loads(data)["id"] == "mini-1":
            fragment = json.loads(data)["html"]
            break
    assert fragment == card_of(console, "mini-1") and "new nozzle" in fragment


@pytest.mark.integration
def test_the_public_job_page_follows_progress_over_sse(
        client: TestClient, actors: dict[str, Actor], web_settings: Settings) -> None:
    job = upload_job(client, actors["maker_a"], name="private-name.stl")
    engine = db.make_engine(web_settings.effective_database_url)
    with Session(engine) as session:
        row_ = session.get(Job, job["id"])
        assert row_ is not None
        row_.status, row_.printer_id, row_.started_at = JobStatus.PRINTING, "mk3s-1", dt.datetime.now(dt.UTC)
        row_.remote_file_name = "secret-file.gcode"
        session.add(row_)
        session.commit()
    engine.dispose()
    set_printer(web_settings, "mk3s-1", bed_clear=False)
    put(web_settings, live_state(PrinterStatus.PRINTING, fraction=0.69, elapsed_s=690.0))
    assert wait_for(lambda: (api_card(client)["job"] or {}).get("code") == job["code"]
                    and api_card(client)["progress"] == 0.69)

    page = client.get(f"/j/{job['code']}?lang=de").text
    card = card_of(page, "mk3s-1")
    assert re.search(r"69\s?%", text_of(card)) and job["code"] in card
    events = re.search(r'data-events="([^"]+)"', page)
    assert events is not None, "the page says which stream it follows"
    url = html.unescape(events.group(1))
    assert "lang=de" in url
    put_done = False
    for event, data in sse_events(client, url):
        if event == "printer":
            card = json.loads(data)
            assert card["id"] == "mk3s-1"  # only the printer of this job
            if re.search(r"72\s?%", text_of(card["html"])):
                break
        if not put_done:  # the snapshot is in: the printer moves on
            put(web_settings, live_state(PrinterStatus.PRINTING, fraction=0.72, elapsed_s=720.0))
            put_done = True
    assert "private-name" not in page and "secret-file" not in page


@pytest.mark.parametrize(("lang", "eta"), [("de", "fertig ca. So., 29. Nov. 00:00"), ("en", "done about Sun 29 Nov 00:00")])
def test_a_finish_on_another_day_names_the_day(lang: str, eta: str) -> None:
    started = NOW.timestamp() - 3600
    card = printer_card(cfg(), state(PrinterStatus.PRINTING, fraction=0.1, elapsed_s=3600.0), row=row(),
                        job=brief(JobStatus.PRINTING, started_at=started), now=NOW.timestamp())
    assert eta in text_of(render_card(card, lang, "wall", load_fleet(SHIPPED).site, now=NOW.timestamp()))


def test_what_the_card_shows_decides_when_it_is_rendered_again() -> None:
    started = NOW.timestamp() - 900
    site = load_fleet(SHIPPED).site

    def card(fraction: float, nozzle: float):
        live = PrinterState("mk3s-1", PrinterStatus.PRINTING, NOW, StateSource.MQTT,
                            job=JobProgress("x.gcode", fraction, 900.0, None),
                            temps=(Temperature("tool0", nozzle, 215.0), Temperature("bed", 59.6, 60.0)))
        return printer_card(cfg(), live, row=row(), job=brief(JobStatus.PRINTING, started_at=started),
                            now=NOW.timestamp())

    jitter, base, moved = card(0.251, 215.1), card(0.252, 214.9), card(0.26, 215.1)
    assert jitter != base and jitter.public() != base.public()  # the JSON has the raw figures
    assert jitter.display_key() == base.display_key()
    assert render_card(jitter, "de", "wall", site, now=NOW.timestamp()) == render_card(base, "de", "wall", site,
                                                                                          now=NOW.timestamp())
    assert moved.display_key() != base.display_key()
    assert "26" in text_of(render_card(moved, "de", "wall", site, now=NOW.timestamp()))
