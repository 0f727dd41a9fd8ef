"""A whole printfleet site for end-to-end tests and benchmarks: real Redis, Mosquitto, simulated printers, monitor
and workers, each a separate process that can be killed and restarted, plus what a test needs to look inside."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis
from sqlmodel import Session, select

from printfleet import db
from printfleet.config import FleetConfig, load_fleet
from printfleet.files import FileStore
from printfleet.models import FileKind, Job, JobStatus, Printer, User
from printfleet.queue.dispatch import announce_jobs_changed
from printfleet.queue.jobs import create_job
from printfleet.services import ManagedProcess, free_port, spawn, wait_for_port
from printfleet.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]  # a source checkout: tests and bench run from one
PROFILES = REPO_ROOT / "configs" / "profiles"


def fleet_yaml(printers: dict[str, str], *, extra: str = "") -> str:
    """A fleet file of simulated printers: ``{id: "mk3s" | "mini"}``."""
    kinds = {
        "mk3s": ("[250, 210, 210]", "PLA", "mk3s-0.20mm-pla.ini"),
        "mini": ("[180, 180, 180]", "PETG", "mini-0.30mm-petg.ini"),
    }
    lines = ["site: {name: Test lab, timezone: Europe/Berlin}", extra, "printers:"]
    for pid, kind in printers.items():
        volume, material, profile = kinds[kind]
        lines.append(
            f"  - {{id: {pid}, name: {pid}, driver: simulated, build_volume_mm: {volume}, material: {material},"
            f" colour: black, profile: {PROFILES / profile}}}"
        )
    return "\n".join(lines) + "\n"


@dataclass
class Site:
    """A running site. ``parts`` are child processes by name (``sim``, ``monitor``, ``worker-0`` ...)."""

    root: Path
    settings: Settings
    env: dict[str, str]
    fleet: FleetConfig
    parts: dict[str, ManagedProcess] = field(default_factory=dict)

    @property
    def engine(self):
        if not hasattr(self, "_engine"):
            self._engine = db.make_engine(self.settings.effective_database_url)
        return self._engine

    @property
    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.settings.effective_redis_url)

    def start(self, name: str, *args: str) -> ManagedProcess:
        """Start a part: ``sim``, ``monitor`` or ``worker``; ``monitor-b``, ``worker-2`` ... name further ones."""
        command = name.split("-", 1)[0]
        proc = spawn(
            name, [sys.executable, "-m", "printfleet", command, *args], env=self.env,
            log_path=self.root / f"{name}.log", cwd=REPO_ROOT,
        )  # fmt: skip
        self.parts[name] = proc
        if command == "sim":
            wait_sim(self)
        return proc

    def kill(self, name: str) -> None:
        """SIGKILL a part and everything it started (RQ work horses run in sessions of their own), like a
        crash of its machine."""
        import psutil

        proc = self.parts.pop(name)
        try:
            family = psutil.Process(proc.pid).children(recursive=True)
        except psutil.Error:
            family = []
        proc.kill()
        for child in family:
            try:
                child.kill()
            except psutil.Error:
                pass

    def stop(self) -> None:
        """Stop every part."""
        for proc in self.parts.values():
            proc.stop(timeout_s=5)
        self.parts.clear()
        if hasattr(self, "_engine"):
            self._engine.dispose()

    def logs(self) -> str:
        """Every part's log, for failure messages."""
        return "\n".join(f"--- {p.name}\n{p.log_tail(40)}" for p in self.parts.values())

    # -------------------------------------------------------------- jobs

    def user(self, name: str) -> User:
        with db.session_scope(self.engine) as session:
            user = session.exec(select(User).where(User.name == name)).first()
            if user is None:
                user = User(name=name)
                session.add(user)
                session.flush()
            return user

    def submit(self, path: Path, *, user: str = "ada", **fields: object) -> int:
        """Store a file and queue a job for it, as the upload path does."""
        kind = FileKind.GCODE if path.suffix.lower() == ".gcode" else FileKind.STL
        stored = FileStore(self.settings.data_dir.resolve()).put_file(path)
        owner = self.user(user)
        fields.setdefault("est_print_time_s", 60.0)
        fields.setdefault("bbox_mm", [20.0, 20.0, 20.0])
        with db.session_scope(self.engine) as session:
            job = create_job(session, owner=owner, file_name=path.name, file_sha256=stored.sha256, file_kind=kind,
                             file_size=stored.size, **fields)  # fmt: skip
            job_id = job.id
        announce_jobs_changed(self.client, job_id, "queued")
        return job_id  # type: ignore[return-value]

    def job(self, job_id: int) -> Job:
        with Session(self.engine) as session:
            return session.get(Job, job_id)  # type: ignore[return-value]

    def printer(self, printer_id: str) -> Printer:
        with Session(self.engine) as session:
            return session.get(Printer, printer_id)  # type: ignore[return-value]

    def wait(self, predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}\n{self.logs()}")

    def wait_status(self, job_id: int, status: JobStatus, timeout_s: float = 60) -> Job:
        self.wait(lambda: self.job(job_id).status is status, timeout_s, f"job {job_id} to be {status.value}")
        return self.job(job_id)

    def clear_bed(self, printer_id: str, actor: str = "staff") -> None:
        from printfleet.queue.actions import clear_bed

        with db.session_scope(self.engine) as session:
            clear_bed(session, self.client, printer_id, actor=actor)

    # -------------------------------------------------------------- the printers' own record

    def sim_get(self, printer_id: str, path: str) -> dict:
        url = f"{self.settings.sim_url.rstrip('/')}/printers/{printer_id}{path}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())

    def fault(self, printer_id: str, kind: str, **params: object) -> None:
        """Script a fault on a simulated printer (see ``printfleet.sim.server``)."""
        url = f"{self.settings.sim_url.rstrip('/')}/printers/{printer_id}/sim/fault"
        body = json.dumps({"kind": kind, **params}).encode()
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()

    def printed(self, printer_id: str) -> dict[str, tuple[int, int]]:
        """What a simulated printer itself says it printed: file name -> (successes, failures)."""
        files = self.sim_get(printer_id, "/api/files").get("files", [])
        record: dict[str, tuple[int, int]] = {}
        for entry in files:
            prints = entry.get("prints") or {}
            record[entry["name"]] = (int(prints.get("success", 0)), int(prints.get("failure", 0)))
        return record

    def printed_everywhere(self) -> dict[str, tuple[int, int]]:
        """Successes and failures per file name across all printers."""
        total: dict[str, tuple[int, int]] = {}
        for printer in self.fleet.printers:
            for name, (ok, failed) in self.printed(printer.id).items():
                prev = total.get(name, (0, 0))
                total[name] = (prev[0] + ok, prev[1] + failed)
        return total


def make_site(root: Path, redis_url: str, mqtt_url: str, fleet_text: str, *, lease_s: float = 8.0) -> Site:
    """Prepare (not start) a site in ``root`` with its own Redis database, broker and data dir."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "fleet.yaml"
    config.write_text(fleet_text)
    sim_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRINTFLEET_")}
    env.update({
        "PRINTFLEET_CONFIG": str(config),
        "PRINTFLEET_DATA_DIR": str(root / "data"),
        "PRINTFLEET_REDIS_URL": redis_url,
        "PRINTFLEET_MQTT_URL": mqtt_url,
        "PRINTFLEET_SIM_URL": f"http://127.0.0.1:{sim_port}",
        "PRINTFLEET_DISPATCH_LEASE_S": str(lease_s),
        "PRINTFLEET_STATUS_SILENCE_S": "3",
        "PRINTFLEET_LOG_LEVEL": "INFO",
    })  # fmt: skip
    settings = Settings(
        config=config, data_dir=root / "data", redis_url=redis_url, mqtt_url=mqtt_url,
        sim_url=f"http://127.0.0.1:{sim_port}", dispatch_lease_s=lease_s,
    )  # fmt: skip
    settings.ensure_data_dir()
    engine = db.make_engine(settings.effective_database_url)
    db.upgrade(engine)
    engine.dispose()
    return Site(root=root, settings=settings, env=env, fleet=load_fleet(config))


def wait_sim(site: Site, timeout_s: float = 20) -> None:
    """Wait until the simulator answers."""
    port = int(site.settings.sim_url.rsplit(":", 1)[1])
    wait_for_port(site.parts.get("sim"), "127.0.0.1", port, timeout_s)

