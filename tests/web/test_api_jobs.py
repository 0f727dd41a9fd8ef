"""The jobs API: upload, estimate, list, detail, actions; the authorisation matrix; bad input."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.web.conftest import GCODE, Actor, box_stl, upload_job


def test_upload_creates_a_queued_job_with_estimate_and_fits(client: TestClient, actors: dict[str, Actor]) -> None:
    job = upload_job(client, actors["maker_a"], material="PLA")
    assert job["status"] == "queued"
    assert job["estimate"]["print_time_s"] > 0
    assert job["estimate"]["filament_g"] > 0
    assert set(job["estimate"]["fits"]) == {"mk3s-1", "mk3s-2"}
    assert job["queue_position"] == 1
    assert job["code"] and job["public_url"] == f"/j/{job['code']}"
