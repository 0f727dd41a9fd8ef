"""Bad input: 4xx with a JSON ``detail`` that says what is wrong, and nothing stored changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from printfleet import db
from printfleet.models import Job
from printfleet.settings import Settings
from printfleet.web.app import create_app
from tests.web.conftest import GCODE, Actor, box_stl, upload_job


def stored_files(settings: Settings) -> list[Path]:
    """Every file in the data dir's file areas (store and incoming)."""
    return sorted(p for area in ("files", "incoming") for p in (settings.data_dir / area).rglob("*") if p.is_file())


def job_count(settings: Settings) -> int:
    engine = db.make_engine(settings.effective_database_url)
    with Session(engine) as session:
        count = session.exec(select(func.count()).select_from(Job)).one()
    engine.dispose()
    return count


@pytest.fixture()
def unchanged(web_settings: Settings, client: TestClient) -> Iterator[None]:
    """Assert that the test leaves the stored jobs and files as they were."""
    files, jobs = stored_files(web_settings), job_count(web_settings)
    yield
    assert stored_files(web_settings) == files
    assert job_count(web_settings) == jobs


def post_job(client: TestClient, actor: Actor, name: str, content: bytes, **data: str):
    return client.post("/api/jobs", headers=actor.headers, files={"file": (name, content, "application/octet-stream")},
                       data=data)


BAD_FILES = [
    ("model.obj", box_stl(), 415, "unsupported_file", "model.obj: only .stl"),
    ("notes.txt", b"hello", 415, "unsupported_file", "notes.txt: only .stl"),
    ("no-extension", box_stl(), 415, "unsupported_file", "no-extension: only .stl"),
    ("photo.stl", b"\x89PNG\r\n\x1a\n" + b"\0" * 200, 422, "invalid", "photo.stl: not an STL file (looks like a PNG"),
    ("empty.stl", b"", 415, "empty_file", "file empty.stl is empty"),
    ("truncated.stl", box_stl()[:150], 422, "invalid", "truncated.stl: truncated"),
    ("text.stl", b"this is not a model at all, just some words\n" * 3, 422, "invalid", "text.stl: not an STL"),
    ("binary.gcode", b"\x00\x01\x02" * 100, 422, "invalid", "binary.gcode: not a text G-code file (binary"),
    ("../", box_stl(), 422, "bad_file_name", "nothing usable"),
]
#: error answers in English (the shipped site's language is German)
ENGLISH = {"Accept-Language": "en"}


@pytest.mark.parametrize(("name", "content", "status", "code", "words"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_files_are_refused(client: TestClient, actors: dict[str, Actor], web_settings: Settings, unchanged: None,
                               name: str, content: bytes, status: int, code: str, words: str) -> None:
    for path in ("/api/jobs", "/api/uploads"):
        response = client.post(path, headers={**actors["maker_a"].headers, **ENGLISH},
                               files={"file": (name, content, "application/octet-stream")})
        assert response.status_code == status, response.text
        assert response.json()["code"] == code and words in response.json()["detail"]
        assert str(web_settings.data_dir) not in response.json()["detail"]  # only the name the maker gave


def test_over_the_size_limit_with_content_length(client: TestClient, actors: dict[str, Actor], unchanged: None) -> None:
    big = box_stl() + b"\0" * 3_000_000  # limit is 2 MB in these tests
    response = client.post("/api/jobs", headers={**actors["maker_a"].headers, **ENGLISH},
                           files={"file": ("big.stl", big, "application/octet-stream")})
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    assert response.json()["detail"] == "the upload is larger than the limit of 2 MB"


def test_over_the_size_limit_streamed_without_length(client: TestClient, actors: dict[str, Actor],
                                                     unchanged: None) -> None:
    boundary = "pfboundary"

    def body() -> Iterator[bytes]:
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.stl\"\r\n"
               "Content-Type: application/octet-stream\r\n\r\n").encode()
        for _ in range(40):
            yield b"\0" * 100_000
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.post("/api/jobs", headers={**actors["maker_a"].headers, **ENGLISH,
                                                 "Content-Type": f"multipart/form-data; boundary={boundary}"},
                           content=body())
    assert response.status_code == 413 and "limit" in response.json()["detail"]


def test_just_under_the_limit_by_the_store(client: TestClient, actors: dict[str, Actor], web_settings: Settings,
                                           unchanged: None) -> None:
    # over max_upload_mb but within the form overhead the middleware allows: the file store refuses it
    content = b"\0" * (web_settings.max_upload_mb * 1_000_000 + 10)
    response = post_job(client, actors["maker_a"], "edge.stl", content)
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("name", "stored"),
    [("../../etc/passwd.stl", "passwd.stl"), ("..\\..\\win\\part.stl", "part.stl"), ("C:\\Users\\x\\a b.stl", "a b.stl"),
     ("<script>alert(1)</script>.stl", "script_.stl"), ("bracket v2 (final).stl", "bracket v2 (final).stl")],
)
def test_path_parts_and_odd_characters_in_names(client: TestClient, actors: dict[str, Actor], web_settings: Settings,
                                                name: str, stored: str) -> None:
    job = upload_job(client, actors["maker_a"], name=name)
    assert job["file_name"] == stored
    assert "/" not in job["file_name"] and "\\" not in job["file_name"] and "<" not in job["file_name"]
    assert not (web_settings.data_dir.parent / "etc").exists()
    for path in stored_files(web_settings):
        assert path.resolve().is_relative_to(web_settings.data_dir.resolve())


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"copies": "0"}, "copies: at least 1"),
        ({"copies": "many"}, "copies: a whole number"),
        ({"copies": "101"}, "copies: at most 100"),
        ({"material": "UNOBTAINIUM"}, "material UNOBTAINIUM"),
        ({"colour": "red; DROP TABLE"}, "colour"),
        ({"priority": "5"}, "priority"),
        ({"note": "x" * 1001}, "note: at most 1000 characters"),
    ],
)
def test_malformed_fields(client: TestClient, actors: dict[str, Actor], unchanged: None, data: dict[str, str],
                          words: str) -> None:
    response = client.post("/api/jobs", headers={**actors["maker_a"].headers, **ENGLISH}, data=data,
                           files={"file": ("part.stl", box_stl(), "application/octet-stream")})
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"] and response.json()["code"]


def test_missing_file_and_upload_id(client: TestClient, actors: dict[str, Actor], unchanged: None) -> None:
    english = {**actors["maker_a"].headers, **ENGLISH}
    response = client.post("/api/jobs", headers=english, data={"material": "PLA"})
    assert response.status_code == 422 and "file or an upload_id" in response.json()["detail"]
    assert response.json()["code"] == "file_or_upload"
    response = client.post("/api/uploads", headers=english, data={"material": "PLA"})
    assert response.status_code == 422 and response.json()["detail"] == "file is missing"
    response = client.post("/api/jobs", headers=actors["maker_a"].headers, json={"file": "x"})
    assert response.status_code == 422


def test_part_too_big_for_every_printer(client: TestClient, actors: dict[str, Actor], web_settings: Settings) -> None:
    jobs = job_count(web_settings)
    response = post_job(client, actors["maker_a"], "huge.stl", box_stl(300, 300, 300))
    assert response.status_code == 422 and response.json()["code"] == "no_printer_fits"
    assert response.json()["detail"] == ("Dieses Modell ist 300 × 300 × 300 mm groß; der größte Drucker hier "
                                         "(Prusa MK3S #1) schafft 250 × 210 × 210 mm. Verkleinere es oder teile es "
                                         "in Stücke.")  # the site's language, de
    english = client.post("/api/jobs", headers={**actors["maker_a"].headers, "Accept-Language": "en"},
                          files={"file": ("huge.stl", box_stl(300, 300, 300), "model/stl")})
    assert english.json()["detail"].startswith("This model is 300 × 300 × 300 mm; the largest printer here")
    assert job_count(web_settings) == jobs


def test_wrong_material_for_the_size(client: TestClient, actors: dict[str, Actor], web_settings: Settings) -> None:
    # 190 mm tall fits only the MK3S (PLA), not the MINIs (PETG)
    response = post_job(client, actors["maker_a"], "wide.stl", box_stl(20, 20, 190), material="PETG")
    assert response.status_code == 422 and "PETG" in response.json()["detail"]


def test_gcode_upload(client: TestClient, actors: dict[str, Actor]) -> None:
    job = upload_job(client, actors["maker_a"], content=GCODE, name="sliced.gcode", material="PETG")
    assert job["file_kind"] == "gcode"
    assert job["estimate"]["print_time_s"] == 3723
    assert job["estimate"]["fits"] == ["mini-1", "mini-2"]
    assert job["preview_url"] is None


def test_unknown_ids(client: TestClient, actors: dict[str, Actor], unchanged: None) -> None:
    staff = actors["staff"].headers
    assert client.get("/api/jobs/987654", headers=staff).status_code == 404
    assert client.get("/api/jobs/abc", headers=staff).status_code == 422
    assert client.post("/api/jobs/987654/cancel", headers=staff).status_code == 404
    assert client.get("/api/jobs/-1", headers=staff).status_code == 422
    assert client.get(f"/api/jobs/{2**70}", headers=staff).status_code == 422
    response = client.post("/api/jobs", headers={**actors["maker_a"].headers, **ENGLISH}, data={"upload_id": "nope"})
    assert response.status_code == 404 and "upload" in response.json()["detail"]
    assert response.json()["code"] == "upload_not_found"
    assert client.get("/api/uploads/nope/preview.png", headers=staff).status_code == 404


def test_someone_elses_upload_id(client: TestClient, actors: dict[str, Actor], web_settings: Settings) -> None:
    upload = client.post("/api/uploads", headers=actors["maker_a"].headers,
                         files={"file": ("a.stl", box_stl(), "model/stl")}).json()
    jobs = job_count(web_settings)
    response = client.post("/api/jobs", headers=actors["maker_b"].headers, data={"upload_id": upload["upload_id"]})
    assert response.status_code == 404
    assert client.get(upload["preview_url"], headers=actors["maker_b"].headers).status_code == 404
    assert job_count(web_settings) == jobs


def test_malformed_action_bodies(client: TestClient, actors: dict[str, Actor], web_settings: Settings) -> None:
    job = upload_job(client, actors["maker_a"])
    headers = {**actors["maker_a"].headers, "Content-Type": "application/json"}
    for body in (b"{not json", b'{"reason": 5}', b'{"unknown": 1}', b'{"reason": "' + b"x" * 600 + b'"}', b"[]"):
        response = client.post(f"/api/jobs/{job['id']}/cancel", headers=headers, content=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["detail"]
    assert client.get(f"/api/jobs/{job['id']}", headers=actors["maker_a"].headers).json()["status"] == "queued"
    big = client.post(f"/api/jobs/{job['id']}/cancel", headers=headers, content=b" " * 2_000_000)
    assert big.status_code == 413


def test_redis_down(web_settings: Settings, actors: dict[str, Actor], redis_factory) -> None:
    private = redis_factory(appendonly=False)
    settings = web_settings.model_copy(update={"redis_url": private.url})
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        private.stop()
        assert client.get("/api/printers").status_code == 200  # served from the web process's board
        assert client.get("/wall").status_code == 200
        assert client.get("/healthz").status_code == 503
        response = client.post("/api/uploads", headers=actors["maker_a"].headers,
                               files={"file": ("a.stl", box_stl(), "model/stl")})
        assert response.status_code == 503 and "Redis" in response.json()["detail"]
