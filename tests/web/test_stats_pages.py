"""The statistics pages, their JSON and CSV, and the wall's "today" line, on a generated week of the shipped fleet:
German and English, staff and makers, bad periods, who may see what."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from printfleet import db
from printfleet.accounts import create_token
from printfleet.config import load_fleet
from printfleet.models import Job, JobEvent, User
from printfleet.services import ManagedProcess
from printfleet.settings import Settings
from printfleet.stats import Period, local_midnight, local_today, today_summary, usage_report
from printfleet.testing.history import HistoryWriter, Week, generate_week
from printfleet.web.app import create_app
from printfleet.web.i18n import Formatter
from printfleet.web.routes.stats import TodayBoard
from tests.web.conftest import Actor, login, wait_for

PASSWORD = "correct horse battery"
SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "printers.yaml"


@pytest.fixture(scope="module")
def week_db(tmp_path_factory: pytest.TempPathFactory, redis_server: ManagedProcess) -> tuple[Path, Week]:
    """A database with a week of history up to now (written once for the module)."""
    path = tmp_path_factory.mktemp("week") / "week.db"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    client = redis.Redis.from_url(redis_server.url)
    week = generate_week(engine, client, load_fleet(SHIPPED_CONFIG), password=PASSWORD)
    client.close()
    engine.dispose()
    return path, week


@pytest.fixture()
def site(web_settings: Settings, week_db: tuple[Path, Week]) -> Iterator[SimpleNamespace]:
    """The app on a copy of the week, with tokens for sam (staff), ada and bo (makers)."""
    template, week = week_db
    url = web_settings.effective_database_url
    target = Path(url.removeprefix("sqlite:///"))
    for suffix in ("", "-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    shutil.copy(template, target)
    engine = db.make_engine(url)
    with db.session_scope(engine) as session:
        tokens = {name: Actor(name, create_token(session, user_name=name, name="t")) for name in ("sam", "ada", "bo")}
    with TestClient(create_app(web_settings)) as client:
        yield SimpleNamespace(client=client, engine=engine, week=week, fleet=load_fleet(web_settings.config), **tokens)
    engine.dispose()


def _report(site: SimpleNamespace, owner: str | None = None):
    tz = site.fleet.site.tz
    today = local_today(tz)
    with Session(site.engine) as session:
        owner_id = session.exec(select(User.id).where(User.name == owner)).one() if owner else None
        return usage_report(session, site.fleet, Period(today - dt.timedelta(days=6), today, tz), owner_id=owner_id)


def test_staff_page_in_german_and_english(site: SimpleNamespace) -> None:
    login(site.client, "sam", PASSWORD)
    page = site.client.get("/staff/stats")
    assert page.status_code == 200 and page.headers["content-language"] == "de"
    report = _report(site)
    de = Formatter("de_DE", site.fleet.site.tz)
    for text in ("Statistik", "Druckstunden", "Auslastung je Drucker", "Mitglieder", "Als CSV herunterladen",
                 "Fertige Drucke", "So werden die Zahlen gezählt", "inaktiv",
                 f"{de.number(report.totals.print_hours, 1)} h", f"{de.number(report.totals.grams)} g"):
        assert text in page.text, text
    for english in ("Print hours", "Members", "Download as CSV", "Utilisation per printer", "No data"):
        assert english not in page.text, english
    assert page.text.count("<svg") >= 5 and "cdn" not in page.text.lower() and "<script src=\"http" not in page.text
    members = section(page.text, "members")
    assert [*(m.name for m in report.members), "Summe"] == re.findall(r'data-label="Mitglied">\s*(\w+)', members)
    assert 'href="/staff/stats" aria-current="page"' in page.text  # linked from the console's navigation

    page = site.client.get("/staff/stats?lang=en&group=week")
    assert page.status_code == 200
    for text in ("Statistics", "Print hours", "Utilisation per printer", "Members", "Download as CSV", "wk "):
        assert text in page.text, text
    assert "Druckstunden" not in page.text


def test_a_maker_sees_only_their_own_usage(site: SimpleNamespace) -> None:
    login(site.client, "ada", PASSWORD)
    me = site.client.get("/me")
    assert 'href="/me/usage"' in me.text
    page = site.client.get("/me/usage")
    assert page.status_code == 200
    assert "Meine Nutzung" in page.text and "Druckstunden je Drucker" in page.text
    own = _report(site, "ada")
    assert f"{Formatter('de_DE', site.fleet.site.tz).number(own.totals.print_hours, 1)} h" in page.text
    assert 'id="members"' not in page.text and "Mitglieder" not in page.text
    for other in ("bo", "cem", "dana"):
        assert not re.search(rf"\b{other}\b", section(page.text, "main")), other
    assert "/api/me/usage/series.csv?from=" in page.text
    staff_page = site.client.get("/staff/stats")
    assert staff_page.status_code == 403 and "Diese Seite ist für das Team." in staff_page.text


def test_signed_out_pages_send_to_the_sign_in(site: SimpleNamespace) -> None:
    for path in ("/staff/stats", "/me/usage"):
        response = site.client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == f"/login?next={path}"


def test_json_by_role(site: SimpleNamespace) -> None:
    everyone = site.client.get("/api/stats", headers=site.sam.headers)
    assert everyone.status_code == 200
    body = everyone.json()
    report = _report(site)
    assert body["totals"]["print_hours"] == pytest.approx(report.totals.print_hours, abs=0.01)
    assert body["totals"]["done"] == report.totals.done
    assert {m["name"] for m in body["members"]} == {m.name for m in report.members}
    assert body["utilisation_basis"] == "all_hours" and body["period"]["timezone"] == "Europe/Berlin"
    assert [p["id"] for p in body["printers"]] == ["mk3s-1", "mk3s-2", "mini-1", "mini-2"]

    own = site.client.get("/api/me/usage", headers=site.ada.headers).json()
    ada = next(m for m in body["members"] if m["name"] == "ada")
    assert own["totals"] == {k: ada[k] for k in own["totals"]}
    assert "members" not in own and all("utilisation" not in p for p in own["printers"])

    refused = site.client.get("/api/stats", headers=site.ada.headers)
    assert refused.status_code == 403 and refused.json()["detail"]
    for path in ("/api/stats", "/api/stats/members.csv", "/api/me/usage", "/api/me/usage/series.csv"):
        anonymous = site.client.get(path)
        assert anonymous.status_code == 401 and anonymous.json()["detail"], path
    assert site.client.get("/api/stats/members.csv", headers=site.bo.headers).status_code == 403


def test_csv_tables(site: SimpleNamespace) -> None:
    report = _report(site)
    for table, first_column in (("members", "user_id"), ("printers", "printer_id"), ("materials", "material"),
                                ("series", "start")):  # fmt: skip
        response = site.client.get(f"/api/stats/{table}.csv", headers=site.sam.headers)
        assert response.status_code == 200, table
        assert response.headers["content-type"].startswith("text/csv")
        assert f"printfleet-{table}-" in response.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert response.text.split(",", 1)[0] == first_column
        assert sum(float(r["print_hours"]) for r in rows) == pytest.approx(report.totals.print_hours, abs=0.01)
        assert sum(int(r["done"]) for r in rows) == report.totals.done
        assert "cost_eur" not in rows[0]  # the shipped fleet sets no prices
    series = list(csv.DictReader(io.StringIO(
        site.client.get("/api/stats/series.csv", headers=site.sam.headers).text)))
    assert len(series) == 7
    starts = [dt.datetime.fromisoformat(r["start"]) for r in series]
    assert all(s.utcoffset() in (dt.timedelta(hours=1), dt.timedelta(hours=2)) for s in starts)  # site timezone
    assert all(s.hour == 0 and s.minute == 0 for s in starts)
    printers = {r["printer_id"]: r for r in csv.DictReader(io.StringIO(
        site.client.get("/api/stats/printers.csv", headers=site.sam.headers).text))}
    assert 0 < float(printers["mk3s-1"]["utilisation"]) < 1 and printers["mk3s-1"]["utilisation_basis"] == "all_hours"
    assert float(printers["mk3s-2"]["maintenance_hours"]) > 0

    own = site.client.get("/api/me/usage/materials.csv", headers=site.ada.headers)
    assert own.status_code == 200 and own.text.startswith("material,print_hours,filament_g,done,failed,cancelled\r\n")
    missing = site.client.get("/api/me/usage/members.csv", headers=site.ada.headers)
    assert missing.status_code == 404 and "members" in missing.json()["detail"]


@pytest.mark.parametrize(("query", "english", "german"), [
    ("from=2026-03-10&to=2026-03-01", "the period ends (2026-03-01) before it starts (2026-03-10)",
     "der Zeitraum endet (2026-03-01), bevor er beginnt (2026-03-10)"),
    ("group=hour", "group: 'hour' is not one of day, week, month", "group: „hour“ ist nicht day, week oder month"),
    ("from=99999-01-01", "from: '99999-01-01' is not a date (use YYYY-MM-DD)",
     "from: „99999-01-01“ ist kein Datum (schreib JJJJ-MM-TT)"),
])  # fmt: skip
def test_bad_periods(site: SimpleNamespace, query: str, english: str, german: str) -> None:
    for path in ("/api/stats", "/api/stats/series.csv"):
        response = site.client.get(f"{path}?{query}", headers={**site.sam.headers, "Accept-Language": "en"})
        assert response.status_code == 422 and response.json() == {"detail": english, "code": "bad_period"}
    response = site.client.get(f"/api/me/usage?{query}", headers={**site.ada.headers, "Accept-Language": "de"})
    assert response.status_code == 422 and response.json()["detail"] == german
    login(site.client, "sam", PASSWORD)
    page = site.client.get(f"/staff/stats?{query}")
    assert page.status_code == 422 and german in page.text
    assert 'name="from"' in page.text  # the form is there to correct it


def test_wall_shows_today(site: SimpleNamespace) -> None:
    with Session(site.engine) as session:
        expected = today_summary(session, site.fleet)
    wall = site.client.get("/wall")
    assert wall.status_code == 200
    assert 'id="today"' in wall.text and "Heute" in wall.text and "Aufträge warten" in wall.text
    assert f'data-k="prints_done">{expected.prints_done}<' in wall.text
    today = site.client.get("/api/wall/today").json()
    start = local_midnight(local_today(site.fleet.site.tz), site.fleet.site.tz)
    with Session(site.engine) as session:
        done_today = session.exec(select(JobEvent.id).where(JobEvent.to_status == "done", col(JobEvent.at) >= start))
        queued = session.exec(select(Job.id).where(Job.status == "queued"))
        assert today["prints_done"] == expected.prints_done == len(done_today.all())
        assert today["waiting"] == expected.waiting == len(queued.all()) >= len(site.week.jobs_by_end["waiting"])
    assert today["print_hours"] == pytest.approx(expected.print_hours, abs=0.05)


def section(html: str, element_id: str) -> str:
    """The part of a page from the element with ``element_id`` (or the ``<main>``) to its section's end."""
    start = html.index("<main>") if element_id == "main" else html.index(f'id="{element_id}"')
    return html[start:html.index("</main>" if element_id == "main" else "</section>", start)]


def test_today_is_computed_once_per_change(site: SimpleNamespace, redis_url: str) -> None:
    """The wall asks many times a minute; the board computes again only when the queue view changed."""
    hub = SimpleNamespace(view=SimpleNamespace(queue=[1, 2]))
    board = TodayBoard(site.engine, site.fleet, hub, min_age_s=0.0, max_age_s=3600.0)
    first = board.summary()
    writer = HistoryWriter(site.engine, redis.Redis.from_url(redis_url), site.fleet)
    ada = site.week.members["ada"]
    now = dt.datetime.now(dt.UTC)
    job = writer.submit(ada, now - dt.timedelta(seconds=90), material="PLA", est_print_time_s=60, est_filament_g=1)
    writer.start(job, "mk3s-1", now - dt.timedelta(seconds=60))
    writer.finish(job, now - dt.timedelta(seconds=1))
    assert board.summary().prints_done == first.prints_done  # the view did not change: cached
    assert board._refreshing is None
    hub.view = SimpleNamespace(queue=[1])  # the web process recomputed its view after the change
    stale = board.summary()  # answered at once with the last figures, computed again in the background
    assert stale.prints_done == first.prints_done and stale.waiting == 1
    assert wait_for(lambda: board.summary().prints_done == first.prints_done + 1)


def test_a_report_is_reused_until_the_trail_changes(site: SimpleNamespace, redis_url: str) -> None:
    """A page and its CSV downloads compute the report once; a new event makes the next request compute again."""
    first = site.client.get("/api/stats", headers=site.sam.headers).json()
    cache = site.client.app.state.stats_reports
    ((key, (_, computed_at, report)),) = cache._entries.items()
    assert site.client.get("/api/stats/members.csv", headers=site.sam.headers).status_code == 200
    assert cache._entries[key][1] == computed_at and cache._entries[key][2] is report
    writer = HistoryWriter(site.engine, redis.Redis.from_url(redis_url), site.fleet)
    now = dt.datetime.now(dt.UTC)
    job = writer.submit(site.week.members["bo"], now - dt.timedelta(seconds=90), material="PETG",
                        est_print_time_s=60, est_filament_g=1)  # fmt: skip
    writer.start(job, "mini-1", now - dt.timedelta(seconds=60))
    writer.finish(job, now - dt.timedelta(seconds=1))
    again = site.client.get("/api/stats", headers=site.sam.headers).json()
    assert again["totals"]["done"] == first["totals"]["done"] + 1
    assert cache._entries[key][2] is not report
