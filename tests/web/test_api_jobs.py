"""The jobs API: upload, estimate, list, detail, actions; the authorisation matrix; bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from printfleet.settings import Settings
from printfleet.web.app import create_app
from tests.web.conftest import GCODE, Actor, finish_job, upload_job, wait_for


def test_upload_creates_a_queued_job_with_estimate_and_fits(client: TestClient, actors: dict[str, Actor]) -> None:
    job = upload_job(client, actors["maker_a"], material="PLA")
    assert job["status"] == "queued"
    assert job["estimate"]["print_time_s"] > 0
    assert job["estimate"]["filament_g"] > 0
    assert set(job["estimate"]["fits"]) == {"mk3s-1", "mk3s-2"}
    assert job["queue_position"] == 1
    assert job["code"] and job["public_url"] == f"/j/{job['code']}"


def test_job_detail_and_list_filters(client: TestClient, actors: dict[str, Actor]) -> None:
    first = upload_job(client, actors["maker_a"], material="PLA", colour="black", note="for the club")
    second = upload_job(client, actors["maker_a"], content=GCODE, name="holder.gcode", material="PETG")
    def detail() -> dict:
        return client.get(f"/api/jobs/{first['id']}", headers=actors["maker_a"].headers).json()

    assert wait_for(lambda: detail()["queue_position"] == 1)
    assert detail()["colour"] == "black" and detail()["note"] == "for the club"
    # no printer has reported yet (no states), so the scheduler says why and gives no start time
    assert detail()["reason_code"] == "printers_unavailable" and detail()["estimated_start"] is None
    assert "offline" in detail()["reason"]
    listed = client.get("/api/jobs", headers=actors["staff"].headers, params={"status": ["queued"], "limit": 1}).json()
    assert listed["count"] == 2 and len(listed["data"]) == 1 and listed["data"][0]["id"] == second["id"]
    by_code = client.get("/api/jobs", headers=actors["staff"].headers, params={"code": first["code"].lower()}).json()
    assert [j["id"] for j in by_code["data"]] == [first["id"]]
    ended = client.get("/api/jobs", headers=actors["staff"].headers, params={"active": "false"}).json()
    assert ended["count"] == 0


def test_reasons_follow_the_reader_language(client: TestClient, actors: dict[str, Actor]) -> None:
    job = upload_job(client, actors["maker_a"])
    headers = actors["maker_a"].headers
    english = client.get(f"/api/jobs/{job['id']}", headers={**headers, "Accept-Language": "en-GB,en;q=0.8"}).json()
    german = client.get(f"/api/jobs/{job['id']}", headers={**headers, "Accept-Language": "de-DE"}).json()
    assert english["reason"] != german["reason"]


def test_approval_rules_of_the_site(web_settings: Settings, actors: dict[str, Actor], tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    shipped = Path(web_settings.config).read_text()
    fleet.write_text(shipped.replace("profile: profiles/", f"profile: {Path(web_settings.config).parent}/profiles/")
                     + "\npolicy:\n  approval: {materials: [PETG]}\n")
    settings = web_settings.model_copy(update={"config": fleet})
    with TestClient(create_app(settings)) as client:
        petg = upload_job(client, actors["maker_a"], content=GCODE, name="clip.gcode", material="PETG")
        assert petg["status"] == "awaiting_approval"
        assert petg["queue_position"] is None
        staff_job = upload_job(client, actors["staff"], content=GCODE, name="clip.gcode", material="PETG")
        assert staff_job["status"] == "queued"  # staff never need approval
        inbox = wait_for(lambda: client.get("/api/queue").json()["awaiting_approval"] == 1)
        assert inbox
        approved = client.post(f"/api/jobs/{petg['id']}/approve", headers=actors["staff"].headers)
        assert approved.status_code == 200 and approved.json()["status"] == "queued"


def test_the_same_flow_on_postgresql(postgres_url: str, web_settings: Settings, tmp_path: Path) -> None:
    from printfleet import db
    from printfleet.accounts import add_user, create_token
    from printfleet.config import load_fleet
    from printfleet.models import Printer

    engine = db.make_engine(postgres_url)
    db.upgrade(engine)
    with db.session_scope(engine) as session:
        for printer in load_fleet(web_settings.config).printers:
            if session.get(Printer, printer.id) is None:
                session.add(Printer(id=printer.id, name=printer.name))
        name = f"pg-{tmp_path.name[-8:].lower().replace('_', '-')}"
        add_user(session, name=name, password="correct horse battery")
        session.flush()
        token = create_token(session, user_name=name, name="t")
    engine.dispose()
    settings = Settings.model_validate({**web_settings.model_dump(), "database_url": postgres_url})
    maker = Actor(name, token)
    with TestClient(create_app(settings)) as client:
        job = upload_job(client, maker, material="PLA")
        assert wait_for(lambda: any(e["code"] == job["code"] for e in client.get("/api/queue").json()["data"]))
        assert client.post(f"/api/jobs/{job['id']}/cancel", headers=maker.headers).json()["status"] == "cancelled"
        assert client.get("/api/jobs", headers=maker.headers).json()["count"] == 1
        assert client.get("/metrics").status_code == 200


def test_queue_estimates_with_idle_printers(client: TestClient, actors: dict[str, Actor], web_settings: Settings) -> None:
    import datetime as dt

    from printfleet.state import PrinterState, PrinterStatus, StateSource
    from printfleet.store import StateStore

    store = StateStore.from_url(web_settings.effective_redis_url)
    now = dt.datetime.now(dt.UTC)
    store.put_many(PrinterState(pid, PrinterStatus.IDLE, now, StateSource.MQTT) for pid in ("mk3s-1", "mk3s-2"))
    store.close()
    jobs = [upload_job(client, actors[who], material="PLA") for who in ("maker_a", "maker_b", "maker_a")]

    def queue() -> list[dict]:
        return client.get("/api/queue", headers={"Accept-Language": "en"}).json()["data"]

    assert wait_for(lambda: len(queue()) == 3 and all(e["estimated_start"] for e in queue()))
    entries = queue()
    assert [e["position"] for e in entries] == [1, 2, 3]
    assert {e["code"] for e in entries} == {j["code"] for j in jobs}
    assert entries[0]["reason"].startswith("starting on")


def test_gcode_goes_only_to_printers_it_reaches_with_its_nozzle(client: TestClient, actors: dict[str, Actor]) -> None:
    wide = b"; nozzle_diameter = 0.4\nG90\nM83\nG1 Z0.2\nG1 X20 Y20\nG1 X220 Y200 E12\nG1 X20 Y20 Z5 E12\n"
    job = upload_job(client, actors["maker_a"], content=wide, name="wide.gcode")
    assert set(job["estimate"]["fits"]) == {"mk3s-1", "mk3s-2"}  # 220 x 200 mm: not on the 180 mm MINIs
    other_nozzle = wide.replace(b"0.4", b"0.6")
    response = client.post("/api/jobs", headers={**actors["maker_a"].headers, "Accept-Language": "en"},
                           files={"file": ("nozzle.gcode", other_nozzle, "text/x-gcode")})  # fmt: skip
    assert response.status_code == 422 and response.json()["code"] == "no_printer_fits"
    assert response.json()["detail"].startswith("This G-code was sliced for 0.6 mm nozzle; no printer here")


def test_the_estimate_has_a_cost_when_the_site_sets_prices(web_settings: Settings, actors: dict[str, Actor],
                                                           tmp_path: Path) -> None:  # fmt: skip
    fleet = tmp_path / "priced.yaml"
    shipped = Path(web_settings.config).read_text()
    fleet.write_text(shipped.replace("profile: profiles/", f"profile: {Path(web_settings.config).parent}/profiles/")
                     .replace("closing_margin_min: 15", "closing_margin_min: 15\n  price_per_g: 0.05\n  price_per_hour: 0.5"))
    settings = web_settings.model_copy(update={"config": fleet})
    with TestClient(create_app(settings)) as client:
        job = upload_job(client, actors["maker_a"], material="PLA")
        response = client.post("/api/uploads", headers=actors["maker_a"].headers,
                               files={"file": ("part.stl", _box(), "model/stl")}, data={"material": "PLA"})
    estimate = response.json()["estimate"]
    expected = round(estimate["filament_g"] * 0.05 + estimate["print_time_s"] / 3600 * 0.5, 2)
    assert estimate["cost"] == pytest.approx(expected, abs=0.011) and estimate["currency"] == "EUR"
    assert job["status"] == "queued"


def _box() -> bytes:
    from tests.web.conftest import box_stl

    return box_stl()


MINI_PETG = Path(__file__).resolve().parents[1] / "estimate" / "data" / "mini-petg-31x36.gcode"
EN = {"Accept-Language": "en"}
DE = {"Accept-Language": "de"}


def _site_with(web_settings: Settings, tmp_path: Path, extra: str) -> Settings:
    fleet = tmp_path / "fleet.yaml"
    shipped = Path(web_settings.config).read_text()
    fleet.write_text(shipped.replace("profile: profiles/", f"profile: {Path(web_settings.config).parent}/profiles/")
                     + extra)  # fmt: skip
    return web_settings.model_copy(update={"config": fleet})


def test_copies_are_in_the_estimate_the_job_and_the_approval_rules(web_settings: Settings, actors: dict[str, Actor],
                                                                   tmp_path: Path) -> None:  # fmt: skip
    settings = _site_with(web_settings, tmp_path, "\npolicy:\n  approval: {over_hours: 1}\n")
    maker = actors["maker_a"].headers
    with TestClient(create_app(settings)) as client:
        one = client.post("/api/uploads", headers={**maker, **EN}, files={"file": ("box.stl", _box(), "model/stl")},
                          data={"material": "PLA"}).json()["estimate"]
        ten = client.post("/api/uploads", headers={**maker, **EN}, files={"file": ("box.stl", _box(), "model/stl")},
                          data={"material": "PLA", "copies": "10"}).json()  # fmt: skip
        estimate = ten["estimate"]
        assert estimate["copies"] == 10 and estimate["part_mm"] == one["bbox_mm"]
        assert estimate["filament_g"] == pytest.approx(10 * one["filament_g"], rel=0.05)
        assert 5 * one["print_time_s"] < estimate["print_time_s"] < 10 * one["print_time_s"]  # one plate, one print
        assert estimate["print_time_s"] > 3600 > one["print_time_s"]
        assert estimate["approval"] == "prints longer than 1 h 00 min need staff approval"  # all ten copies count
        assert one["approval"] is None
        job = client.post("/api/jobs", headers=maker, data={"upload_id": ten["upload_id"], "material": "PLA",
                                                             "copies": "10"}).json()  # fmt: skip
        assert job["status"] == "awaiting_approval" and job["copies"] == 10
        assert job["estimate"]["print_time_s"] == estimate["print_time_s"]
        assert job["estimate"]["filament_g"] == estimate["filament_g"]
        assert job["estimate"]["bbox_mm"] == estimate["bbox_mm"]  # the plate is what is sliced and printed
        # the copies chosen after the upload: the estimate follows them
        single = client.post("/api/uploads", headers=maker, files={"file": ("box.stl", _box(), "model/stl")},
                             data={"material": "PLA"}).json()  # fmt: skip
        three = client.post(f"/api/uploads/{single['upload_id']}/estimate", headers=maker,
                            data={"material": "PLA", "copies": "3"})  # fmt: skip
        assert three.status_code == 200, three.text
        assert three.json()["estimate"]["copies"] == 3
        assert three.json()["estimate"]["print_time_s"] > 2 * single["estimate"]["print_time_s"]
        assert client.post("/api/jobs", headers=maker, data={"upload_id": single["upload_id"]}).status_code == 404
        queued = client.post("/api/jobs", headers=maker, data={"upload_id": three.json()["upload_id"],
                                                                "material": "PLA", "copies": "3"}).json()  # fmt: skip
        assert queued["estimate"]["print_time_s"] == three.json()["estimate"]["print_time_s"]
        assert queued["status"] == "queued"  # 3 copies stay under the hour
        staff = client.get("/api/jobs", headers=actors["staff"].headers).json()["data"]
        assert {j["id"]: j["estimate"]["print_time_s"] for j in staff}[job["id"]] == estimate["print_time_s"]


def test_fits_stay_with_the_job_after_the_slicer_figure_arrives(client: TestClient, actors: dict[str, Actor],
                                                               web_settings: Settings) -> None:  # fmt: skip
    from printfleet import db
    from printfleet.models import Job

    job = upload_job(client, actors["maker_a"], material="PLA")
    headers = actors["maker_a"].headers

    def read() -> dict:
        return client.get(f"/api/jobs/{job['id']}", headers=headers).json()

    assert read()["estimate"]["fits"] == ["mk3s-1", "mk3s-2"]
    assert read()["estimate"]["fit_names"] == ["Prusa MK3S #1", "Prusa MK3S #2"]
    engine = db.make_engine(web_settings.effective_database_url)
    with db.session_scope(engine) as session:  # what slice_ahead writes once PrusaSlicer answered
        row = session.get(Job, job["id"])
        row.est_print_time_s, row.est_filament_g, row.est_source = 1000.0, 2.5, "slicer"
        session.add(row)
    engine.dispose()
    after = read()["estimate"]
    assert after["source"] == "slicer" and after["fits"] == ["mk3s-1", "mk3s-2"]
    listed = client.get("/api/jobs", headers=headers).json()["data"][0]["estimate"]
    assert listed["fits"] == ["mk3s-1", "mk3s-2"]


def test_a_mini_petg_gcode_is_offered_only_for_the_minis(client: TestClient, actors: dict[str, Actor]) -> None:
    maker = actors["maker_a"].headers
    gcode = MINI_PETG.read_bytes()
    upload = client.post("/api/uploads", headers={**maker, **DE}, files={"file": ("clip.gcode", gcode, "text/x-gcode")},
                         data={"material": "PLA"}).json()  # fmt: skip
    estimate = upload["estimate"]
    assert estimate["fits"] == ["mini-1", "mini-2"] and estimate["fit_names"] == ["Prusa MINI #1", "Prusa MINI #2"]
    assert estimate["material"] == "PETG" and estimate["sliced_for"] == "MINI, PETG, 0,4-mm-Düse, Druckbett 180 × 180 mm"
    assert [round(v) for v in estimate["bbox_mm"]] == [31, 36, 1]  # the part, not the intro line at y = -3
    refused = client.post("/api/jobs", headers={**maker, **EN}, data={"upload_id": upload["upload_id"], "material": "PLA"})
    assert refused.status_code == 422 and refused.json()["code"] == "gcode_material"
    assert refused.json()["detail"] == "This G-code was sliced for PETG, not PLA; it can only print with PETG."
    job = client.post("/api/jobs", headers=maker, data={"upload_id": upload["upload_id"], "material": "PETG"})
    assert job.status_code == 201, job.text
    assert job.json()["material"] == "PETG" and job.json()["estimate"]["fits"] == ["mini-1", "mini-2"]
    assert client.get(f"/api/jobs/{job.json()['id']}", headers=maker).json()["estimate"]["fits"] == ["mini-1", "mini-2"]
    # a MINI G-code on a site with only MK3S printers: refused with what it was made for
    response = client.post("/api/jobs", headers={**maker, **EN}, files={"file": ("clip.gcode", gcode, "text/x-gcode")},
                           data={"colour": "white"})  # fmt: skip
    assert response.status_code == 422 and response.json()["code"] == "no_printer_fits"
    assert response.json()["detail"] == "No printer here has white PETG loaded (PETG here: black, orange)."


def test_the_upload_estimate_says_it_needs_approval_and_why(web_settings: Settings, actors: dict[str, Actor],
                                                             tmp_path: Path) -> None:  # fmt: skip
    settings = _site_with(web_settings, tmp_path, "\npolicy:\n  approval: {materials: [PETG]}\n")
    with TestClient(create_app(settings)) as client:
        for headers, words in ((DE, "Drucke aus PETG müssen vom Team freigegeben werden"), (EN, "PETG prints need staff approval")):
            upload = client.post("/api/uploads", headers={**actors["maker_a"].headers, **headers},
                                 files={"file": ("box.stl", _box(), "model/stl")}, data={"material": "PETG"})
            assert words in upload.json()["estimate"]["approval"]
        staff = client.post("/api/uploads", headers={**actors["staff"].headers, **EN},
                            files={"file": ("box.stl", _box(), "model/stl")}, data={"material": "PETG"})
        assert staff.json()["estimate"]["approval"] is None


def test_picking_up_the_last_print_of_a_printer_clears_its_bed(client: TestClient, actors: dict[str, Actor],
                                                               web_settings: Settings) -> None:  # fmt: skip
    from printfleet import db
    from printfleet.models import Printer

    older = upload_job(client, actors["maker_b"], material="PLA")
    latest = upload_job(client, actors["maker_a"], material="PLA")
    finish_job(web_settings, older["id"], "mk3s-1", started_hours_ago=3)
    finish_job(web_settings, latest["id"], "mk3s-1", started_hours_ago=1, bed_clear=False)
    engine = db.make_engine(web_settings.effective_database_url)

    def bed_clear() -> bool:
        with db.session_scope(engine) as session:
            return session.get(Printer, "mk3s-1").bed_clear

    collected = client.post(f"/api/jobs/{older['id']}/collected", headers=actors["maker_b"].headers)
    assert collected.status_code == 200 and collected.json()["status"] == "collected"
    assert not bed_clear()  # an older print: the bed holds maker A's newer one
    client.post(f"/api/jobs/{latest['id']}/collected", headers=actors["maker_a"].headers).raise_for_status()
    assert bed_clear()
    engine.dispose()


def test_a_colour_named_in_german_finds_the_printer_that_has_it(client: TestClient, actors: dict[str, Actor]) -> None:
    job = upload_job(client, actors["maker_a"], material="PLA", colour="Schwarz")
    assert job["colour"] == "black" and job["estimate"]["fits"] == ["mk3s-1"]
    white = upload_job(client, actors["maker_a"], material="PLA", colour="weiß")
    assert white["colour"] == "white" and white["estimate"]["fit_names"] == ["Prusa MK3S #2"]
