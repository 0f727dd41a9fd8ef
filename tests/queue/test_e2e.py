"""End to end with real Redis, Mosquitto, PrusaSlicer and simulated printers, each part its own process.

Every test checks the printers' own record of what they printed (``prints.success`` per file in the
simulator's ``GET /api/files``), not only printfleet's database: no job lost, none printed twice.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from printfleet.models import JobStatus
from printfleet.queue.tasks import remote_name
from printfleet.testing.meshes import box_stl

pytestmark = pytest.mark.integration

SIM_SPEED = "200"


def test_upload_slice_print_done_then_bed_clear_then_next(site_factory, tmp_path: Path) -> None:
    site = site_factory({"mk3s-1": "mk3s"})
    site.start("sim", "--speed", SIM_SPEED)
    site.start("monitor")
    site.start("worker-0")
    first = site.submit(box_stl(tmp_path / "cube.stl", 10.0), user="ada", material="PLA")
    second = site.submit(box_stl(tmp_path / "small.stl", 8.0), user="bo", material="PLA")
    job = site.wait_status(first, JobStatus.DONE, timeout_s=90)
    assert job.printer_id == "mk3s-1" and job.actual_print_time_s and job.actual_print_time_s > 0
    assert job.est_source == "slicer" and job.est_print_time_s != 60.0  # the slicer's figure replaced the estimate
    assert job.actual_filament_mm == job.est_filament_mm and job.actual_filament_mm > 100
    assert site.printer("mk3s-1").bed_clear is False
    assert site.job(second).status is JobStatus.QUEUED  # waits for the bed
    site.clear_bed("mk3s-1")
    site.wait_status(second, JobStatus.DONE, timeout_s=90)
    record = site.printed("mk3s-1")
    assert record[remote_name(site.job(first))] == (1, 0)
    assert record[remote_name(site.job(second))] == (1, 0)


def test_a_new_model_is_sliced_ahead_and_the_dispatch_reuses_it(site_factory, tmp_path: Path) -> None:
    from printfleet.queue.tasks import enqueue_slice_ahead

    site = site_factory({"mk3s-1": "mk3s", "mini-1": "mini"})
    site.start("worker-0")
    job_id = site.submit(box_stl(tmp_path / "cube.stl", 30.0), material="PLA", bbox_mm=[30.0, 30.0, 30.0])
    enqueue_slice_ahead(site.client, job_id)
    site.wait(lambda: site.job(job_id).est_source == "slicer", 60, "the slicer's figure")
    job = site.job(job_id)
    assert 600 < job.est_print_time_s < 20000 and job.est_filament_g > 1
    cached = list((site.settings.data_dir / "files" / "sliced").rglob("*.gcode"))
    assert len(cached) == 1  # PLA fits only the MK3S profile
    mtime = cached[0].stat().st_mtime
    site.start("sim", "--speed", SIM_SPEED)
    site.start("monitor")
    site.wait_status(job_id, JobStatus.DONE, timeout_s=90)
    assert cached[0].stat().st_mtime == mtime  # the dispatch used the cached G-code
    assert site.printed("mk3s-1")[remote_name(site.job(job_id))] == (1, 0)
