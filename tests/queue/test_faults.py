"""Faults injected at real boundaries (killed processes, a restarted Redis, printers that go away or refuse),
each judged by the printers' own record of what they printed: no job lost, none printed twice."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import select

from printfleet import db
from printfleet.models import JobEvent, JobStatus
from printfleet.queue.actions import approve_job
from printfleet.queue.tasks import remote_name
from printfleet.services import ManagedProcess, start_redis
from printfleet.testing.meshes import box_stl
from printfleet.texts import CodedText, EventCode

pytestmark = pytest.mark.integration

SPEED = "200"


def gcode(path: Path, seconds: float) -> Path:
    """A small G-code file the simulator prints in ``seconds`` simulated seconds."""
    path.write_text(f"; PRINTFLEET_SIM_SECONDS={seconds}\nG28\n" + "".join(f"G1 X{i} Y{i} E{i * 0.1:.1f}\n" for i in range(20)))
    return path


def finish_all(site, job_ids: list[int], timeout_s: float, on_tick: Callable[[], None] | None = None) -> None:
    """Clear beds as staff would until every job is done."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(site.job(j).status is JobStatus.DONE for j in job_ids):
            return
        for printer in site.fleet.printers:
            row = site.printer(printer.id)
            if row is not None and not row.bed_clear:
                with contextlib.suppress(Exception):  # a job is still on it
                    site.clear_bed(printer.id)
        if on_tick:
            on_tick()
        time.sleep(0.2)
    states = {j: site.job(j).status.value for j in job_ids}
    raise AssertionError(f"not all done: {states}\n{site.logs()}")


def assert_printed_once(site, job_ids: list[int]) -> None:
    printed = site.printed_everywhere()
    for job_id in job_ids:
        name = remote_name(site.job(job_id))
        assert printed.get(name, (0, 0))[0] == 1, (job_id, name, printed)


def test_worker_killed_while_slicing(site_factory, tmp_path: Path) -> None:
    site = site_factory({"mk3s-1": "mk3s"}, lease_s=4.0)
    site.start("sim", "--speed", SPEED)
    site.start("worker-0")
    site.start("monitor")
    job_id = site.submit(box_stl(tmp_path / "tall.stl", 60, 60, 60), material="PLA", bbox_mm=[60, 60, 60])
    site.wait_status(job_id, JobStatus.SLICING, timeout_s=30)
    site.kill("worker-0")
    site.start("worker-1")
    job = site.wait_status(job_id, JobStatus.DONE, timeout_s=120)
    assert job.printer_id == "mk3s-1"
    assert_printed_once(site, [job_id])
    with db.session_scope(site.engine) as session:
        codes = [e.reason_code for e in session.exec(select(JobEvent).where(JobEvent.job_id == job_id))]
    assert EventCode.DISPATCH_INTERRUPTED in codes, codes


def test_two_monitors_and_a_killed_monitor(site_factory, tmp_path: Path) -> None:
    site = site_factory({"mk3s-1": "mk3s", "mk3s-2": "mk3s", "mini-1": "mini"})
    site.start("sim", "--speed", SPEED)
    site.start("monitor")
    site.start("monitor-b")
    site.start("worker-0")
    site.start("worker-1")
    jobs = [site.submit(gcode(tmp_path / f"j{i}.gcode", 60), user=f"u{i % 3}") for i in range(8)]
    killed = []

    def kill_one_monitor_once() -> None:
        if not killed and sum(site.job(j).status is JobStatus.DONE for j in jobs) >= 2:
            site.kill("monitor")
            killed.append(True)
            site.start("monitor-c")

    finish_all(site, jobs, timeout_s=150, on_tick=kill_one_monitor_once)
    assert killed
    assert_printed_once(site, jobs)


def test_redis_restarted_while_jobs_wait(site_factory, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    redis_dir = tmp_path_factory.mktemp("redis-aof")
    server: ManagedProcess = start_redis(redis_dir, appendonly=True)
    port = int(server.extra["port"])  # type: ignore[arg-type]
    try:
        site = site_factory({"mk3s-1": "mk3s", "mini-1": "mini"}, redis_url=server.url)
        site.start("sim", "--speed", SPEED)
        site.start("monitor")
        jobs = [site.submit(gcode(tmp_path / f"r{i}.gcode", 60), user=f"u{i}") for i in range(4)]
        site.wait(lambda: sum(site.job(j).status is JobStatus.ASSIGNED for j in jobs) == 2, 30, "two assignments")
        time.sleep(1.5)  # appendfsync everysec
        server.kill()
        time.sleep(1.0)
        server = start_redis(redis_dir, port=port, appendonly=True)
        site.start("worker-0")
        finish_all(site, jobs, timeout_s=150)
        assert_printed_once(site, jobs)
    finally:
        server.stop()


def test_printer_goes_offline_mid_print_and_comes_back(site_factory, tmp_path: Path) -> None:
    site = site_factory({"mk3s-1": "mk3s"})
    site.start("sim", "--speed", "20")
    site.start("monitor")
    site.start("worker-0")
    site.fault("mk3s-1", "offline", at_fraction=0.3, duration_s=3)
    job_id = site.submit(gcode(tmp_path / "long.gcode", 60))
    job = site.wait_status(job_id, JobStatus.AWAITING_APPROVAL, timeout_s=60)
    assert "stopped on the printer" in (job.failure_reason or "")
    with db.session_scope(site.engine) as session:
        approve_job(session, site.client, job_id, actor="staff")
    finish_all(site, [job_id], timeout_s=90)
    name = remote_name(site.job(job_id))
    assert site.printed("mk3s-1")[name] == (1, 1)  # one failed attempt (the printer's own record), one print


def test_printer_refuses_a_start(site_factory, tmp_path: Path) -> None:
    site = site_factory({"mk3s-1": "mk3s", "mk3s-2": "mk3s"})
    site.start("sim", "--speed", SPEED)
    site.fault("mk3s-1", "refuse_start", count=1)
    site.fault("mk3s-2", "refuse_start", count=1)
    site.start("monitor")
    site.start("worker-0")
    job_id = site.submit(gcode(tmp_path / "refused.gcode", 30))
    finish_all(site, [job_id], timeout_s=120)
    assert_printed_once(site, [job_id])
    with db.session_scope(site.engine) as session:
        given_back = [e for e in session.exec(select(JobEvent).where(JobEvent.job_id == job_id))
                      if e.reason_code == EventCode.START_REFUSED]  # fmt: skip
    assert given_back and given_back[0].reason_params["printer"] in ("mk3s-1", "mk3s-2")
    assert "refused the start" in str(CodedText(given_back[0].reason_code, given_back[0].reason_params))
