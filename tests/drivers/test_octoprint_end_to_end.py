"""A job end to end on a REAL OctoPrint 1.11 with its Virtual Printer: queued -> dispatched by a worker through
the OctoPrint driver -> printed -> done (status over MQTT from the OctoPrint plugin) -> bed cleared -> next job.
Checked on OctoPrint's own record of what it printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from printfleet.models import JobStatus
from printfleet.queue.tasks import remote_name
from printfleet.testing.site import PROFILES, make_site

pytestmark = pytest.mark.integration

KEY_ENV = "PF_TEST_OCTOPRINT_E2E_KEY"


def fast_gcode(path: Path, label: str) -> Path:
    """A short file at near-ambient temperatures, so the Virtual Printer does not wait for heating."""
    moves = "".join(f"G1 X{10 + (i % 2) * 30} Y{10 + i} E{i * 0.2:.1f} F6000\n" for i in range(30))
    path.write_text(f"; {label}\nM104 S30\nM140 S25\nG28\nG1 Z0.3 F3000\n{moves}M104 S0\nM140 S0\n")
    return path


def test_two_jobs_on_a_real_octoprint(octoprint, octoprint_broker, redis_url: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    import yaml

    # the key and topic the test OctoPrint was seeded with, read from its own files
    APP_KEY = yaml.safe_load((octoprint.basedir / "data/appkeys/keys.yaml").read_text())["admin"][0]["api_key"]
    BASE_TOPIC = yaml.safe_load((octoprint.basedir / "config.yaml").read_text())["plugins"]["printfleet_mqtt"]["baseTopic"]
    fleet = (
        "site: {name: Test lab, timezone: Europe/Berlin}\nprinters:\n"
        f"  - {{id: op-1, name: 'OctoPrint 1', driver: octoprint, url: '{octoprint.url}', api_key_env: {KEY_ENV},"
        f" mqtt_base_topic: '{BASE_TOPIC}', build_volume_mm: [200, 200, 200], material: PLA,"
        f" profile: {PROFILES / 'mk3s-0.20mm-pla.ini'}}}\n"
    )
    monkeypatch.setenv(KEY_ENV, APP_KEY)
    site = make_site(tmp_path / "site", redis_url, octoprint_broker.url, fleet)
    site.env[KEY_ENV] = APP_KEY
    try:
        site.start("monitor")
        site.start("worker-0")
        first = site.submit(fast_gcode(tmp_path / "first.gcode", "first"), est_print_time_s=10.0)
        second = site.submit(fast_gcode(tmp_path / "second.gcode", "second"), est_print_time_s=10.0)
        job = site.wait_status(first, JobStatus.DONE, timeout_s=90)
        assert job.printer_id == "op-1"
        assert site.job(second).status is JobStatus.QUEUED  # the bed is not clear yet
        site.clear_bed("op-1")
        site.wait_status(second, JobStatus.DONE, timeout_s=90)
        for job_id in (first, second):
            info = octoprint.api("GET", f"/api/files/local/{remote_name(site.job(job_id))}").json()
            assert info["prints"]["success"] == 1 and info["prints"]["failure"] == 0, info["prints"]
    finally:
        site.stop()
