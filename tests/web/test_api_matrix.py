"""Who may see and do what: every API route against anonymous, maker A, maker B, staff and admin."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from printfleet import db
from printfleet.models import Job, JobStatus, Printer
from printfleet.queue.jobs import transition
from printfleet.settings import Settings
from tests.web.conftest import Actor, upload_job, wait_for

WHO = ("anonymous", "maker_a", "maker_b", "staff", "admin")


def headers(actors: dict[str, Actor], who: str) -> dict[str, str]:
    return {} if who == "anonymous" else actors[who].headers


def force(settings: Settings, job_id: int, *path: JobStatus, **fields: object) -> None:
    """Move a job along the state machine as the dispatcher and monitor would."""
    engine = db.make_engine(settings.effective_database_url)
    with db.session_scope(engine) as session:
        for i, status in enumerate(path):
            transition(session, job_id, status, actor="system:test", **(fields if i == 0 else {}))
    engine.dispose()


def job_row(settings: Settings, job_id: int) -> Job:
    engine = db.make_engine(settings.effective_database_url)
    with Session(engine) as session:
        job = session.get(Job, job_id)
        assert job is not None
        session.expunge(job)
    engine.dispose()
    return job


# ---------------------------------------------------------------- reading


@pytest.mark.parametrize("who", WHO)
def test_read_job(client: TestClient, actors: dict[str, Actor], who: str) -> None:
    job = upload_job(client, actors["maker_a"], name="alpha.stl")
    response = client.get(f"/api/jobs/{job['id']}", headers=headers(actors, who))
    expected = {"anonymous": 401, "maker_a": 200, "maker_b": 404, "staff": 200, "admin": 200}[who]
    assert response.status_code == expected, response.text
    if expected == 200:
        body = response.json()
        assert body["file_name"] == "alpha.stl" and body["owner"] == "maker-a"
    else:
        assert "alpha" not in response.text and "maker-a" not in response.text
    preview = client.get(f"/api/jobs/{job['id']}/preview.png", headers=headers(actors, who))
    assert preview.status_code == expected


@pytest.mark.parametrize("who", WHO)
def test_list_jobs(client: TestClient, actors: dict[str, Actor], who: str) -> None:
    upload_job(client, actors["maker_a"], name="alpha.stl")
    upload_job(client, actors["maker_b"], name="beta.stl")
    response = client.get("/api/jobs", headers=headers(actors, who))
    if who == "anonymous":
        assert response.status_code == 401
        return
    names = sorted(j["file_name"] for j in response.json()["data"])
    expected = {"maker_a": ["alpha.stl"], "maker_b": ["beta.stl"]}.get(who, ["alpha.stl", "beta.stl"])
    assert names == expected
    assert response.json()["count"] == len(expected)
    mine = client.get("/api/jobs?mine=true", headers=headers(actors, who)).json()
    assert all(j["owner"] == actors[who].name for j in mine["data"])


@pytest.mark.parametrize("who", WHO)
def test_queue_and_printers_are_public_without_personal_data(client: TestClient, actors: dict[str, Actor], who: str) -> None:
    job = upload_job(client, actors["maker_a"], name="alpha.stl", note="private")
    assert wait_for(lambda: client.get("/api/queue").json()["count"] == 1)
    queue = client.get("/api/queue", headers=headers(actors, who))
    assert queue.status_code == 200
    entry = queue.json()["data"][0]
    assert entry["code"] == job["code"] and entry["nickname"] == "Ada" and entry["position"] == 1
    assert entry["id"] == (job["id"] if who in ("maker_a", "staff", "admin") else None)
    printers = client.get("/api/printers", headers=headers(actors, who))
    assert printers.status_code == 200 and len(printers.json()) == 4
    for response in (queue, printers, client.get("/api/printers/mk3s-1", headers=headers(actors, who))):
        assert "alpha" not in response.text and "maker-a" not in response.text and "private" not in response.text
        assert "api_key" not in response.text and "url" not in response.text


# ---------------------------------------------------------------- job actions


CASES = {
    # action: (how to prepare the job, who may act)
    "cancel": ((), {"maker_a", "staff", "admin"}),
    "approve": (("awaiting",), {"staff", "admin"}),
    "reject": (("awaiting",), {"staff", "admin"}),
    "requeue": (("cancelled",), {"maker_a", "staff", "admin"}),
    "collected": (("done",), {"maker_a", "staff", "admin"}),
}


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("action", sorted(CASES))
def test_job_actions(client: TestClient, actors: dict[str, Actor], web_settings: Settings, action: str, who: str) -> None:
    job = upload_job(client, actors["maker_a"])
    prep, allowed = CASES[action]
    if "awaiting" in prep:
        force(web_settings, job["id"], JobStatus.AWAITING_APPROVAL)
    if "cancelled" in prep:
        force(web_settings, job["id"], JobStatus.CANCELLED)
    if "done" in prep:
        force(web_settings, job["id"], JobStatus.ASSIGNED, JobStatus.UPLOADING, JobStatus.PRINTING, JobStatus.DONE,
              printer_id="mk3s-1")
    before = job_row(web_settings, job["id"])
    response = client.post(f"/api/jobs/{job['id']}/{action}", headers=headers(actors, who),
                           json={"reason": "too big for the course"})
    if who == "anonymous":
        expected = 401
    elif who == "maker_b":
        expected = 404
    elif who not in allowed:
        expected = 403
    else:
        expected = 200
    assert response.status_code == expected, response.text
    after = job_row(web_settings, job["id"])
    if expected != 200:
        assert "detail" in response.json()
        assert (after.status, after.version) == (before.status, before.version)
        return
    target = {"cancel": "cancelled", "approve": "queued", "reject": "rejected", "collected": "collected",
              "requeue": "awaiting_approval" if who == "maker_a" else "queued"}[action]
    assert response.json()["status"] == target == after.status.value


@pytest.mark.parametrize("action", sorted(CASES))
def test_illegal_job_actions_are_409_and_change_nothing(client: TestClient, actors: dict[str, Actor],
                                                        web_settings: Settings, action: str) -> None:
    job = upload_job(client, actors["maker_a"])
    force(web_settings, job["id"], JobStatus.CANCELLED)
    force(web_settings, job["id"], JobStatus.QUEUED)  # queued again, version moved on
    force(web_settings, job["id"], JobStatus.ASSIGNED, JobStatus.UPLOADING, JobStatus.PRINTING, JobStatus.DONE,
          JobStatus.COLLECTED, printer_id="mk3s-2")
    before = job_row(web_settings, job["id"])
    response = client.post(f"/api/jobs/{job['id']}/{action}", headers={**actors["staff"].headers, "Accept-Language": "en"},
                           json={"reason": "x"})
    assert response.status_code == 409, response.text
    assert "collected" in response.json()["detail"] and response.json()["code"] in ("job_changed", "illegal_transition")
    after = job_row(web_settings, job["id"])
    assert (after.status, after.version) == (before.status, before.version)


def test_stale_expected_version_is_409(client: TestClient, actors: dict[str, Actor], web_settings: Settings) -> None:
    job = upload_job(client, actors["maker_a"])
    response = client.post(f"/api/jobs/{job['id']}/cancel", headers=actors["maker_a"].headers,
                           json={"expected_version": job["version"] + 5})
    assert response.status_code == 409
    assert job_row(web_settings, job["id"]).status is JobStatus.QUEUED


def test_reject_needs_a_reason(client: TestClient, actors: dict[str, Actor], web_settings: Settings) -> None:
    job = upload_job(client, actors["maker_a"])
    force(web_settings, job["id"], JobStatus.AWAITING_APPROVAL)
    response = client.post(f"/api/jobs/{job['id']}/reject", headers={**actors["staff"].headers, "Accept-Language": "en"})
    assert response.status_code == 422 and "reason" in response.json()["detail"]
    assert response.json()["code"] == "reason_missing"
    assert job_row(web_settings, job["id"]).status is JobStatus.AWAITING_APPROVAL


# ---------------------------------------------------------------- printer actions


def printer_row(settings: Settings, printer_id: str) -> Printer:
    engine = db.make_engine(settings.effective_database_url)
    with Session(engine) as session:
        row = session.get(Printer, printer_id)
        assert row is not None
        session.expunge(row)
    engine.dispose()
    return row


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("command", ["pause", "resume", "cancel"])
def test_printer_commands(client: TestClient, actors: dict[str, Actor], command: str, who: str) -> None:
    from rq import Queue

    from printfleet.queue.dispatch import DISPATCH_QUEUE

    response = client.post(f"/api/printers/mk3s-1/{command}", headers=headers(actors, who))
    expected = {"anonymous": 401, "maker_a": 403, "maker_b": 403, "staff": 202, "admin": 202}[who]
    assert response.status_code == expected, response.text
    queued = Queue(DISPATCH_QUEUE, connection=client.app.state.redis).jobs
    assert [(j.args[0], j.args[1]) for j in queued] == ([("mk3s-1", command)] if expected == 202 else [])


@pytest.mark.parametrize("who", WHO)
def test_maintenance(client: TestClient, actors: dict[str, Actor], web_settings: Settings, who: str) -> None:
    response = client.post("/api/printers/mini-1/maintenance", headers=headers(actors, who),
                           json={"enabled": True, "reason": "nozzle swap"})
    ok = who in ("staff", "admin")
    assert response.status_code == (200 if ok else 401 if who == "anonymous" else 403), response.text
    row = printer_row(web_settings, "mini-1")
    assert row.maintenance is ok and row.maintenance_reason == ("nozzle swap" if ok else None)
    if ok:
        assert wait_for(lambda: client.get("/api/printers/mini-1").json()["maintenance"])
        client.post("/api/printers/mini-1/maintenance", headers=headers(actors, who), json={"enabled": False})
        assert printer_row(web_settings, "mini-1").maintenance is False


@pytest.mark.parametrize("who", WHO)
def test_bed_clear_by_staff_or_owner_of_the_last_print(client: TestClient, actors: dict[str, Actor],
                                                        web_settings: Settings, who: str) -> None:
    job = upload_job(client, actors["maker_a"])
    force(web_settings, job["id"], JobStatus.ASSIGNED, JobStatus.UPLOADING, JobStatus.PRINTING, JobStatus.DONE,
          printer_id="mk3s-1")
    engine = db.make_engine(web_settings.effective_database_url)
    with db.session_scope(engine) as session:
        row = session.get(Printer, "mk3s-1")
        row.bed_clear = False  # type: ignore[union-attr]
    engine.dispose()
    response = client.post("/api/printers/mk3s-1/bed-clear", headers=headers(actors, who))
    expected = {"anonymous": 401, "maker_a": 200, "maker_b": 403, "staff": 200, "admin": 200}[who]
    assert response.status_code == expected, response.text
    assert printer_row(web_settings, "mk3s-1").bed_clear is (expected == 200)


def test_unknown_printer_is_404(client: TestClient, actors: dict[str, Actor]) -> None:
    for path in ("/api/printers/nope", "/api/printers/nope/pause", "/api/printers/nope/bed-clear"):
        method = client.get if path.count("/") == 3 else client.post
        response = method(path, headers=actors["staff"].headers)
        assert response.status_code == 404 and "nope" in response.json()["detail"], path


def test_bearer_token_wrong_is_401(client: TestClient) -> None:
    response = client.get("/api/jobs", headers={"Authorization": "Bearer pf_not-a-token", "Accept-Language": "en"})
    assert response.status_code == 401 and "token" in response.json()["detail"] and response.json()["code"] == "bad_token"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_metrics(client: TestClient, actors: dict[str, Actor]) -> None:
    upload_job(client, actors["maker_a"])
    assert wait_for(lambda: "printfleet_queue_length{kind=\"queued\"} 1.0" in client.get("/metrics").text)
    text = client.get("/metrics").text
    assert 'printfleet_printers{state="offline"} 4.0' in text
    assert "printfleet_dispatch_latency_seconds_bucket" in text
    assert 'printfleet_jobs{status="queued"} 1.0' in text


