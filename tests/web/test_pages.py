"""Pages: sign-in, languages, the maker's page, the staff console, the wall and /j/{code}; CSRF."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import PASSWORD, Actor, box_stl, finish_job, login, upload_job, wait_for


def test_landing_page_in_the_site_language_and_switchable(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert 'lang="de"' in page.text and "Anmelden" in page.text
    switched = client.get("/lang?set=en&next=/", follow_redirects=True)
    assert 'lang="en"' in switched.text and "Sign in" in switched.text
    assert client.get("/?lang=de").text.count("Anmelden") >= 1


def test_sign_in_wrong_password_and_redirects(client: TestClient, actors: dict[str, Actor]) -> None:
    bad = client.post("/login", data={"name": "maker-a", "password": "nope nope"}, follow_redirects=False)
    assert bad.status_code == 401
    assert "pf_session" not in bad.cookies
    assert client.get("/me", follow_redirects=False).headers["location"].startswith("/login")
    ok = client.post("/login", data={"name": "maker-a", "password": PASSWORD, "next": "//evil.example/"},
                     follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/me"
    assert client.get("/", follow_redirects=False).headers["location"] == "/me"


def test_cookie_session_needs_csrf_token_for_api_writes(client: TestClient, actors: dict[str, Actor]) -> None:
    job = upload_job(client, actors["maker_a"])
    csrf = login(client, "maker-a")
    refused = client.post(f"/api/jobs/{job['id']}/cancel")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert client.get(f"/api/jobs/{job['id']}").json()["status"] == "queued"
    wrong = client.post(f"/api/jobs/{job['id']}/cancel", headers={"X-CSRF-Token": "x" + csrf})
    assert wrong.status_code == 403
    done = client.post(f"/api/jobs/{job['id']}/cancel", headers={"X-CSRF-Token": csrf})
    assert done.status_code == 200 and done.json()["status"] == "cancelled"


def test_logout_needs_csrf_and_ends_the_session(client: TestClient, actors: dict[str, Actor]) -> None:
    csrf = login(client, "maker-a")
    assert client.post("/logout").status_code == 403
    assert client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert client.get("/api/jobs").status_code == 401


def test_maker_page_lists_own_jobs_only(client: TestClient, actors: dict[str, Actor]) -> None:
    mine = upload_job(client, actors["maker_a"], name="my-bracket.stl")
    theirs = upload_job(client, actors["maker_b"], name="secret-thing.stl")
    login(client, "maker-a")
    page = client.get("/me")
    assert page.status_code == 200
    assert "my-bracket.stl" in page.text and mine["code"] in page.text
    assert "secret-thing.stl" not in page.text and theirs["code"] not in page.text
    detail = client.get(f"/me/jobs/{mine['id']}")
    assert detail.status_code == 200 and "my-bracket.stl" in detail.text
    assert client.get(f"/me/jobs/{theirs['id']}").status_code == 404


def test_staff_console(client: TestClient, actors: dict[str, Actor]) -> None:
    upload_job(client, actors["maker_a"], name="box.stl")
    login(client, "maker-a")
    assert client.get("/staff").status_code == 403
    client.cookies.clear()
    login(client, "staff")
    page = client.get("/staff")
    assert page.status_code == 200
    for printer in ("Prusa MK3S #1", "Prusa MINI #2"):
        assert printer in page.text
    assert "box.stl" in page.text and "maker-a" in page.text


@pytest.mark.parametrize("lang", ["de", "en"])
def test_wall_and_public_job_page_show_no_personal_data(client: TestClient, actors: dict[str, Actor], lang: str) -> None:
    job = upload_job(client, actors["maker_a"], name="private-name.stl", note="secret note")
    wall = client.get(f"/wall?lang={lang}")
    assert wall.status_code == 200 and "Prusa MK3S #1" in wall.text
    public = client.get(f"/j/{job['code'].lower()}?lang={lang}")
    assert public.status_code == 200
    assert job["code"] in public.text and "Ada" in public.text
    for private in ("private-name", "maker-a", "secret note"):
        assert private not in wall.text and private not in public.text
    assert client.get("/j/NOPE9").status_code == 404


def test_sse_stream_starts_with_a_snapshot(client: TestClient, actors: dict[str, Actor]) -> None:
    upload_job(client, actors["maker_a"])
    assert wait_for(lambda: client.get("/api/queue").json()["count"] == 1)
    with client.stream("GET", "/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        text = ""
        for chunk in stream.iter_text():
            text += chunk
            if "event: jobs" in text:
                break
    assert "retry:" in text and text.count("event: printer") == 4
    assert '"nickname":"Ada"' in text and "maker-a" not in text


def test_upload_page_preview(client: TestClient, actors: dict[str, Actor]) -> None:
    csrf = login(client, "maker-a")
    response = client.post("/api/uploads", headers={"X-CSRF-Token": csrf},
                           files={"file": ("cube.stl", box_stl(), "model/stl")}, data={"material": "PLA"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["estimate"]["fits"] == ["mk3s-1", "mk3s-2"]
    png = client.get(body["preview_url"])
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    job = client.post("/api/jobs", headers={"X-CSRF-Token": csrf}, data={"upload_id": body["upload_id"], "material": "PLA"})
    assert job.status_code == 201, job.text
    assert job.json()["file_name"] == "cube.stl"
    again = client.post("/api/jobs", headers={"X-CSRF-Token": csrf}, data={"upload_id": body["upload_id"]})
    assert again.status_code == 404


def test_page_errors_are_pages(client: TestClient, actors: dict[str, Actor]) -> None:
    login(client, "maker-a")
    for path in ("/me/jobs/987654", f"/me/jobs/{2**70}", "/j/" + "X" * 40):
        response = client.get(path)
        assert 400 <= response.status_code < 500, path


def test_pages_render_live_printer_states(client: TestClient, actors: dict[str, Actor], web_settings) -> None:
    import datetime as dt

    from printfleet.state import JobProgress, PrinterState, PrinterStatus, StateSource, Temperature
    from printfleet.store import StateStore

    store = StateStore.from_url(web_settings.effective_redis_url)
    now = dt.datetime.now(dt.UTC)
    store.put(PrinterState("mk3s-1", PrinterStatus.PRINTING, now, StateSource.MQTT,
                           job=JobProgress("x.gcode", 0.42, 100.0, 600.0),
                           temps=(Temperature("tool0", 215.2, 215.0), Temperature("bed", None, 60.0))))
    store.close()
    assert wait_for(lambda: client.get("/api/printers/mk3s-1").json()["status"] == "printing")
    printer = client.get("/api/printers/mk3s-1").json()
    assert printer["progress"] == 0.42 and printer["nozzle_temp"] == {"actual": 215.2, "target": 215.0}
    assert "x.gcode" not in client.get("/api/printers").text
    login(client, "staff")
    for path in ("/staff", "/wall", "/wall?lang=en"):
        page = client.get(path)
        assert page.status_code == 200 and "215" in page.text, path


def test_sign_in_is_rate_limited_per_name(client: TestClient, actors: dict[str, Actor]) -> None:
    for _ in range(10):
        assert client.post("/login", data={"name": "staff", "password": "wrong wrong"}).status_code == 401
    blocked = client.post("/login", data={"name": "staff", "password": PASSWORD}, follow_redirects=False)
    assert blocked.status_code == 429 and "pf_session" not in blocked.cookies
    assert client.post("/login", data={"name": "maker-a", "password": PASSWORD}, follow_redirects=False).status_code == 303


def test_job_lookup_and_wall_qr_code(client: TestClient, actors: dict[str, Actor]) -> None:
    job = upload_job(client, actors["maker_a"])
    assert "<form" in client.get("/j").text
    found = client.get("/j", params={"code": job["code"].lower()}, follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == f"/j/{job['code']}"
    wall = client.get("/wall")
    assert "<svg" in wall.text and "http://testserver/j" in wall.text


def _visible(page: str) -> str:
    from tests.web.test_i18n import visible_text

    return " ".join(visible_text(page))


def test_someone_elses_job_is_an_error_page_in_german_with_the_signed_in_header(client: TestClient,
                                                                                 actors: dict[str, Actor]) -> None:
    theirs = upload_job(client, actors["maker_b"], name="secret-thing.stl")
    login(client, "maker-a")
    page = client.get(f"/me/jobs/{theirs['id']}?lang=de")
    assert page.status_code == 404
    text = _visible(page.text)
    assert "Abmelden (maker-a)" in text and "Anmelden" not in text.replace("Abmelden", "")
    assert "does not exist" not in text and "gibt es nicht" in text
    assert "secret-thing" not in page.text


def test_the_upload_form_offers_what_the_fleet_has_loaded(client: TestClient, actors: dict[str, Actor]) -> None:
    import html
    import json
    import re

    login(client, "maker-a")
    page = client.get("/me?lang=de").text
    materials = re.findall(r'<option value="([A-Z]+)">', page)
    assert materials == ["PLA", "PETG"]  # the commonest (first loaded) first, not the alphabetically first
    colours = json.loads(html.unescape(re.search(r"data-colours='([^']*)'", page).group(1)))
    assert colours["PLA"] == [{"value": "black", "name": "schwarz"}, {"value": "white", "name": "weiß"}]
    assert colours["PETG"] == [{"value": "orange", "name": "orange"}, {"value": "black", "name": "schwarz"}]
    assert '<option value="black">schwarz</option>' in page  # the first material's colours, in German
    assert 'name="colour" placeholder' not in page  # no free text


def test_the_job_page_shows_copies_cost_printer_names_and_the_bed_it_clears(
    web_settings, actors: dict[str, Actor], tmp_path
) -> None:
    from pathlib import Path

    from printfleet.web.app import create_app

    fleet = tmp_path / "priced.yaml"
    shipped = Path(web_settings.config).read_text()
    fleet.write_text(shipped.replace("profile: profiles/", f"profile: {Path(web_settings.config).parent}/profiles/")
                     .replace("closing_margin_min: 15", "closing_margin_min: 15\n  price_per_g: 0.05"))
    with TestClient(create_app(web_settings.model_copy(update={"config": fleet}))) as client:
        job = upload_job(client, actors["maker_a"], material="PLA", copies="3")
        login(client, "maker-a")
        text = _visible(client.get(f"/me/jobs/{job['id']}?lang=de").text)
        assert "3, zusammen auf einer Platte gedruckt" in text
        assert "Prusa MK3S #1, Prusa MK3S #2" in text and "mk3s-1" not in text
        cost = f"{job['estimate']['filament_g'] * 0.05:.2f}".replace(".", ",")
        assert f"Kosten {cost} EUR" in text
        finish_job(web_settings, job["id"], "mk3s-2", bed_clear=False)
        text = _visible(client.get(f"/me/jobs/{job['id']}?lang=de").text)
        assert "das Druckbett von Prusa MK3S #2 als frei gemeldet" in text and "Ich habe ihn abgeholt" in text


def test_staff_console_acts_by_state_with_reasons_notes_pickup_and_history(client: TestClient,
                                                                         actors: dict[str, Actor],
                                                                         web_settings) -> None:
    import re

    from printfleet import db
    from printfleet.models import Job, JobStatus

    queued = upload_job(client, actors["maker_a"], name="queued.stl", note="bitte in Rot")
    done = upload_job(client, actors["maker_b"], name="done.stl")
    waiting = upload_job(client, actors["maker_b"], name="waiting.stl", note="für den Kurs")
    finish_job(web_settings, done["id"], "mk3s-1")
    engine = db.make_engine(web_settings.effective_database_url)
    with db.session_scope(engine) as session:
        row = session.get(Job, waiting["id"])
        row.status = JobStatus.AWAITING_APPROVAL
        session.add(row)
    engine.dispose()
    csrf = login(client, "staff")
    page = client.get("/staff?lang=de").text

    def row_of(job: dict) -> str:
        return re.search(rf'<tr data-job="{job["id"]}">.*?</tr>', page, re.DOTALL).group(0)

    assert "bitte in Rot" in row_of(queued) and "für den Kurs" in row_of(waiting)  # the note column
    assert "/approve" in row_of(waiting) and "/reject" in row_of(waiting) and "/cancel" not in row_of(waiting)
    assert "/cancel" in row_of(queued) and "/approve" not in row_of(queued) and "/collected" not in row_of(queued)
    assert "/collected" in row_of(done) and "/cancel" not in row_of(done)
    reject = re.search(r'<button data-post="[^"]*/reject"[^>]*>', row_of(waiting)).group(0)
    assert f'data-ask="Auftrag {waiting["code"]} ablehnen"' in reject and "data-ask-required" in reject
    assert "data-ask-required" in re.search(r'<button data-post="[^"]*/cancel"[^>]*>', row_of(queued)).group(0)
    assert "window.prompt" not in client.get("/static/app.js").text
    # cancel with a reason; the history says who did what, in words
    cancelled = client.post(f"/api/jobs/{queued['id']}/cancel", headers={"X-CSRF-Token": csrf},
                            json={"reason": "Datei ist kaputt"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    collected = client.post(f"/api/jobs/{done['id']}/collected", headers={"X-CSRF-Token": csrf})
    assert collected.status_code == 200 and collected.json()["status"] == "collected"
    history = _visible(re.search(r'<section class="card" id="history">.*?</section>',
                                 client.get("/staff?lang=de").text, re.DOTALL).group(0))
    assert "Datei ist kaputt" in history and "staff" in history
    assert "queued.stl hochgeladen" in history and "system:" not in history
