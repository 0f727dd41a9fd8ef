"""Fleet-scale benchmark: a 1,000-printer simulated fleet through every part, to the wall's screen.

    .venv/bin/python bench/fleet.py [--printers 1000] [--clients 20] [--requests 150] [--probes 120]

Runs each part as its own process, as ``printfleet up`` does: a private redis-server and mosquitto,
``printfleet sim`` (the simulated printers: OctoPrint REST + the OctoPrint-MQTT layout, temperatures every
``--temp-interval`` s), ``printfleet monitor`` (MQTT ingest into the state store, following, dispatch) and
``printfleet web``. The database holds what a busy site has: a job printing (60 %) or paused (10 %) on most printers,
each printing on its simulated printer (prints of 4-8 h at ``--speed``); a finished job on the bed of 10 %; 5 % in
maintenance; 300 jobs queued and 20 awaiting approval. ``--clients`` SSE clients follow the wall (3 in 4, German)
and the staff console (English) while it measures:

1. **Render**: ``GET /wall``, ``GET /staff`` (with a staff token), ``GET /api/printers`` and, as the baseline,
   ``GET /j`` (the job lookup page: the same page machinery, nothing of the fleet), interleaved one request at a
   time: p50/p99 and their ratios to the baseline's. Target: /wall and /staff p99 <= 250 ms.
2. **Change to screen**: staff pause (then resume) a printing printer at its simulated OctoPrint, which sends the
   MQTT event a real printer sends -> monitor -> state store -> web -> each SSE client's card. The state store's
   announcement (followed on Redis) is the baseline: p50/p99 of both, and the web's share (screen - store).
   Target: screen p99 <= 250 ms.
3. **Bed cleared to screen**: ``POST /api/printers/{id}/bed-clear`` -> database -> announcement -> the web reads
   the printer rows -> the card says "free" on each client: p50/p99, against the POST's own answer (baseline).
4. CPU of each part over each phase (% of one core), from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from web import sse_blocks  # bench/web.py, next to this file

PROFILES = REPO / "configs" / "profiles"
KINDS = (("MK3S", "[250, 210, 210]", "PLA", "mk3s-0.20mm-pla.ini"), ("MINI", "[180, 180, 180]", "PETG",
                                                                       "mini-0.30mm-petg.ini"))
COLOURS = ("black", "white", "orange", "blue", "red", "grey")
NICKNAMES = ("Ada", "Bo", "Cem", "Dana", "Emil", "Fatma", "Gus", "Hanna", "Ivo", "Jule", "Kim", "Lou")
PASSWORD = "bench bench bench"


def role_of(index: int) -> str:
    """What printer ``index`` is doing in the bench: printing, paused, on_bed, maintenance or free."""
    slot = index % 20
    if slot < 12:
        return "printing"
    if slot < 14:
        return "paused"
    if slot < 16:
        return "on_bed"
    if slot < 17:
        return "maintenance"
    return "free"


def write_fleet(directory: Path, count: int) -> Path:
    """A fleet file of ``count`` simulated printers of two kinds."""
    lines = ["site: {name: Bench lab, timezone: Europe/Berlin, locale: de, public_url: 'https://print.example.org'}",
             "printers:"]
    for i in range(count):
        kind, volume, material, profile = KINDS[i % 3 == 0]
        lines.append(f"  - {{id: f-{i:04d}, name: 'Prusa {kind} #{i + 1}', driver: simulated, build_volume_mm: {volume},"
                     f" material: {material}, colour: {COLOURS[i % len(COLOURS)]}, profile: {PROFILES / profile}}}")
    path = directory / "fleet.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def gcode(seconds: float) -> bytes:
    """A G-code file the simulated printers print for ``seconds``."""
    hours, rest = divmod(int(seconds), 3600)
    return (f"; estimated printing time (normal mode) = {hours}h {rest // 60}m {rest % 60}s\n"
            "M104 S215\nM140 S60\nG28\nG1 X10 Y10 F3000\nG1 X50 Y10 E3\n").encode()


def fill_database(settings, fleet, count: int, rng: random.Random) -> tuple[str, dict[str, float]]:
    """Users, printer rows and jobs; returns a staff token and the print length of each printing printer."""
    from printfleet import db
    from printfleet.accounts import add_user, create_token
    from printfleet.models import FileKind, Job, JobStatus, Printer
    from printfleet.monitor import sync_printers

    engine = db.make_engine(settings.effective_database_url)
    db.upgrade(engine)
    now = dt.datetime.now(dt.UTC)
    lengths: dict[str, float] = {}
    with db.session_scope(engine) as session:
        sync_printers(session, fleet)
        users = [add_user(session, name=f"m{i:03d}", password=PASSWORD, nickname=f"{NICKNAMES[i % 12]} {i // 12}")
                 for i in range(200)]
        add_user(session, name="staff", role="staff", password=PASSWORD)
        session.flush()
        token = create_token(session, user_name="staff", name="bench")

        def job(i: int, status: JobStatus, **fields: object) -> Job:
            fields.setdefault("est_print_time_s", 3 * 3600.0)
            return Job(code=f"B{i:04d}", owner_id=users[i % len(users)].id, status=status, file_name=f"part-{i}.stl",
                       file_sha256=f"{i:064x}", file_kind=FileKind.STL, file_size=1000, **fields)

        for i, printer in enumerate(fleet.printers):
            role = role_of(i)
            row = session.get(Printer, printer.id)
            if role in ("printing", "paused"):
                lengths[printer.id] = rng.uniform(4 * 3600, 8 * 3600)
                session.add(job(i, JobStatus.PRINTING, printer_id=printer.id, remote_file_name=f"bench-{i}.gcode",
                                material=printer.material, queued_at=now, started_at=now,
                                est_print_time_s=lengths[printer.id]))
                row.bed_clear = False
            elif role == "on_bed":
                session.add(job(i, JobStatus.DONE, printer_id=printer.id, material=printer.material,
                                started_at=now - dt.timedelta(hours=3), finished_at=now - dt.timedelta(minutes=10)))
                row.bed_clear = False
            elif role == "maintenance":
                row.maintenance, row.maintenance_reason = True, "nozzle swap"
            session.add(row)
        for q in range(320):  # TPU: no printer here has it, so they wait (and nothing is dispatched)
            status = JobStatus.QUEUED if q < 300 else JobStatus.AWAITING_APPROVAL
            session.add(job(count + q, status, material="TPU", queued_at=now - dt.timedelta(minutes=q)))
    engine.dispose()
    return token, lengths


def start_prints(sim_url: str, lengths: dict[str, float], paused: set[str]) -> None:
    """Upload and start each print on its simulated printer; pause the paused ones."""
    import httpx

    with httpx.Client(base_url=sim_url, timeout=30) as client:
        for printer_id, seconds in lengths.items():
            index = int(printer_id.split("-")[1])
            response = client.post(f"/printers/{printer_id}/api/files/local",
                                   files={"file": (f"bench-{index}.gcode", gcode(seconds))},
                                   data={"select": "true", "print": "true"})
            response.raise_for_status()
        for printer_id in paused:
            client.post(f"/printers/{printer_id}/api/job", json={"command": "pause", "action": "pause"}).raise_for_status()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children that have ended."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def load() -> str:
    """The machine's load average (the bench shares its CPUs with whatever else runs)."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min)"


def figures(values: list[float]) -> str:
    return f"p50 {pct(values, .5):6.0f} ms   p99 {pct(values, .99):6.0f} ms   max {max(values, default=0):6.0f} ms"


# ---------------------------------------------------------------- measuring


@dataclass
class Watch:
    """Per SSE client: when it first saw a printer in a state (after a probe asked for it)."""

    wanted: dict[str, str] = field(default_factory=dict)  # printer id -> state waited for
    seen: dict[tuple[str, str], float] = field(default_factory=dict)


async def sse_client(port: int, path: str, watch: Watch, stop: asyncio.Event, events: list[int],
                     headers: dict[str, str] | None = None) -> None:
    """Follow one SSE stream; note when a watched printer's card shows the state waited for."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n{extra}\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"{path}: {head[:80]!r}")
    try:
        async for now, complete in sse_blocks(reader, stop.is_set):
            events[0] += complete.count(b"event: ")
            for printer_id, state in list(watch.wanted.items()):
                marker = b'{"id":"' + printer_id.encode() + b'"'
                at = complete.find(marker)
                while at >= 0:
                    end = complete.find(b"\n", at)
                    card = json.loads(complete[at:end])
                    if card["state"] == state and (printer_id, state) not in watch.seen:
                        watch.seen[(printer_id, state)] = now
                    at = complete.find(marker, end)
    finally:
        writer.close()


async def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[float, int, int]:
    """One GET on a fresh connection: (seconds, status, bytes)."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{extra}\r\n".encode())
    body = await reader.read()
    writer.close()
    elapsed = time.perf_counter() - start
    status = int(body[9:12]) if body.startswith(b"HTTP/1.1") else 0
    return elapsed, status, len(body)


async def store_follower(redis_url: str, watch: Watch, stop: asyncio.Event) -> None:
    """When the state store announced a watched printer in the status waited for (the baseline)."""
    import redis.asyncio as aioredis

    from printfleet.store import STATE_CHANGED_CHANNEL

    client = aioredis.from_url(redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(STATE_CHANGED_CHANNEL)
    try:
        while not stop.is_set():
            message = await pubsub.get_message(timeout=0.5)
            if message is None:
                continue
            now = time.time()
            data = message["data"]
            for printer_id, status in list(watch.wanted.items()):
                if b'"printer_id":"' + printer_id.encode() + b'"' in data:
                    state = json.loads(data)
                    if state["status"] == status and (printer_id, status) not in watch.seen:
                        watch.seen[(printer_id, status)] = now
    finally:
        await pubsub.aclose()
        await client.aclose()


async def measure(args: argparse.Namespace, web_port: int, sim_url: str, redis_url: str, token: str,
                  printing: list[str], on_bed: list[str], sample_cpu: Callable[[], dict[str, float]]) -> None:
    import httpx

    stop = asyncio.Event()
    watches = [Watch() for _ in range(args.clients)]
    store_watch = Watch()
    events = [0]
    auth = {"Authorization": f"Bearer {token}"}
    clients = []
    for n, watch in enumerate(watches):
        if n % 4:
            clients.append(asyncio.create_task(sse_client(web_port, "/events?lang=de&variant=wall", watch, stop, events)))
        else:
            clients.append(asyncio.create_task(sse_client(web_port, "/events?lang=en&variant=staff", watch, stop, events,
                                                          auth)))
    await asyncio.sleep(3.0)

    # 1. render
    cpu0, t0 = sample_cpu(), time.monotonic()
    timings: dict[str, list[float]] = {"/j?lang=de": [], "/api/printers": [], "/wall?lang=de": [],
                                       "/staff?lang=de": []}
    sizes: dict[str, int] = {}
    for _ in range(args.requests):
        for path, samples in timings.items():
            elapsed, status, size = await get(web_port, path, auth if path.startswith("/staff") else None)
            if status != 200:
                raise RuntimeError(f"GET {path}: HTTP {status}")
            samples.append(elapsed * 1000)
            sizes[path] = size
    cpu1, t1 = sample_cpu(), time.monotonic()
    base = timings["/j?lang=de"]
    print(f"1. render, {args.requests} requests each, one at a time, interleaved, {args.clients} SSE clients connected;"
          f" baseline: the job lookup page (the same page machinery, nothing of the fleet); {load()}")
    for path, samples in timings.items():
        ratio = "" if samples is base else (f"   p50 {pct(samples, .5) / pct(base, .5):5.1f}x, "
                                             f"p99 {pct(samples, .99) / pct(base, .99):5.1f}x the baseline's")
        label = path + (" (baseline)" if samples is base else "")
        print(f"   {label:28s} {figures(samples)}   {sizes[path] / 1024:6.0f} KiB{ratio}")
    print(f"   targets: /wall p99 <= 250 ms: {'met' if pct(timings['/wall?lang=de'], .99) <= 250 else 'NOT met'}; "
          f"/staff p99 <= 250 ms: {'met' if pct(timings['/staff?lang=de'], .99) <= 250 else 'NOT met'}")
    print_cpu(cpu0, cpu1, t1 - t0)

    # 2. pause / resume at the printer -> screen (following the store's announcements is work for this process
    # too: only while it is needed)
    follow_stop = asyncio.Event()
    follower = asyncio.create_task(store_follower(redis_url, store_watch, follow_stop))
    await asyncio.sleep(1.0)
    rng = random.Random(7)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{web_port}", timeout=30) as web:
        showing = {card["id"] for card in (await web.get("/api/printers")).json() if card["state"] == "printing"}
    probes = rng.sample(sorted(showing & set(printing)), min(len(showing & set(printing)), args.probes))
    screen: list[float] = []
    store: list[float] = []
    missed = 0
    cpu0, t0 = sample_cpu(), time.monotonic()
    async with httpx.AsyncClient(base_url=sim_url, timeout=10) as sim:
        for kind, status, state in (("pause", "paused", "paused"), ("resume", "printing", "printing")):
            for printer_id in probes:
                for watch in watches:
                    watch.wanted[printer_id] = state
                store_watch.wanted[printer_id] = status
                sent_at = time.time()
                response = await sim.post(f"/printers/{printer_id}/api/job",
                                          json={"command": "pause", "action": kind})
                if response.status_code == 409:  # its print ended meanwhile
                    for watch in (*watches, store_watch):
                        watch.wanted.pop(printer_id, None)
                    continue
                response.raise_for_status()
                deadline = time.time() + 5.0
                while time.time() < deadline and not all((printer_id, state) in w.seen for w in watches):
                    await asyncio.sleep(0.005)
                got = [w.seen[(printer_id, state)] - sent_at for w in watches if (printer_id, state) in w.seen]
                missed += len(watches) - len(got)
                screen.extend(1000 * g for g in got)
                if (printer_id, status) in store_watch.seen:
                    store.append(1000 * (store_watch.seen[(printer_id, status)] - sent_at))
                for watch in (*watches, store_watch):
                    watch.wanted.pop(printer_id, None)
                await asyncio.sleep(args.probe_gap)
    cpu1, t1 = sample_cpu(), time.monotonic()
    follow_stop.set()
    await follower
    print(f"2. change to screen: {len(probes)} printers paused, then resumed, at their simulated OctoPrint "
          f"({len(screen)} client samples, {missed} not seen within 5 s); {load()}")
    print(f"   state store announced (baseline)  {figures(store)}")
    print(f"   on every client's screen          {figures(screen)}")
    print(f"   the web's share (screen - store): p50 {pct(screen, .5) - pct(store, .5):.0f} ms; "
          f"screen p99 / store p99 = {pct(screen, .99) / pct(store, .99):.2f}")
    print(f"   target screen p99 <= 250 ms: {'met' if pct(screen, .99) <= 250 else 'NOT met'}")
    print_cpu(cpu0, cpu1, t1 - t0)

    # 3. bed cleared -> screen
    cleared: list[float] = []
    answered: list[float] = []
    missed = 0
    cpu0, t0 = sample_cpu(), time.monotonic()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{web_port}", timeout=60, headers=auth) as web:
        for printer_id in on_bed[: args.probes]:
            for watch in watches:
                watch.wanted[printer_id] = "free"
            sent_at = time.time()
            response = await web.post(f"/api/printers/{printer_id}/bed-clear")
            response.raise_for_status()
            answered.append(1000 * (time.time() - sent_at))
            deadline = time.time() + 5.0
            while time.time() < deadline and not all((printer_id, "free") in w.seen for w in watches):
                await asyncio.sleep(0.005)
            got = [w.seen[(printer_id, "free")] - sent_at for w in watches if (printer_id, "free") in w.seen]
            missed += len(watches) - len(got)
            cleared.extend(1000 * g for g in got)
            for watch in watches:
                watch.wanted.pop(printer_id, None)
            await asyncio.sleep(args.probe_gap)
    cpu1, t1 = sample_cpu(), time.monotonic()
    print(f"3. bed cleared to screen: {min(len(on_bed), args.probes)} beds ({len(cleared)} client samples, "
          f"{missed} not seen within 5 s); {load()}")
    print(f"   POST answered (baseline)          {figures(answered)}")
    print(f"   on every client's screen          {figures(cleared)}")
    print(f"   after the answer: p50 {pct(cleared, .5) - pct(answered, .5):.0f} ms; screen p99 / answer p99 = "
          f"{pct(cleared, .99) / pct(answered, .99):.2f}")
    print_cpu(cpu0, cpu1, t1 - t0)
    print(f"   SSE events delivered in all: {events[0]:,}")
    stop.set()
    await asyncio.gather(*clients, return_exceptions=True)


def print_cpu(before: dict[str, float], after: dict[str, float], seconds: float) -> None:
    parts = ", ".join(f"{name} {100 * (after[name] - before[name]) / seconds:.0f} %" for name in before)
    print(f"   CPU (% of one core): {parts}")


def main() -> None:
    """Start the parts, fill the site, measure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--printers", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=20, help="SSE clients (3 in 4 follow the wall, 1 the staff cards)")
    parser.add_argument("--requests", type=int, default=150, help="GETs of each page")
    parser.add_argument("--probes", type=int, default=120, help="printers paused and resumed; beds cleared")
    parser.add_argument("--probe-gap", type=float, default=0.2, help="seconds between probes")
    parser.add_argument("--speed", type=float, default=10.0, help="simulated seconds per real second")
    parser.add_argument("--temp-interval", type=float, default=2.0, help="seconds between temperature reports")
    parser.add_argument("--settle", type=float, default=20.0, help="seconds to let the fleet run before measuring")
    args = parser.parse_args()

    from printfleet.config import load_fleet
    from printfleet.services import free_port, spawn, start_mosquitto, start_redis, wait_for_port
    from printfleet.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="printfleet-bench-fleet-"))
    redis_proc = start_redis(work / "redis", appendonly=False)
    broker = start_mosquitto(work / "mosquitto", persistence=False)
    parts = []
    try:
        fleet_path = write_fleet(work, args.printers)
        sim_port, web_port = free_port(), free_port()
        sim_url = f"http://127.0.0.1:{sim_port}"
        settings = Settings(config=fleet_path, data_dir=work / "data", redis_url=redis_proc.url, mqtt_url=broker.url,
                            sim_url=sim_url)
        settings.ensure_data_dir()
        fleet = load_fleet(fleet_path)
        rng = random.Random(11)
        token, lengths = fill_database(settings, fleet, args.printers, rng)
        roles = {p.id: role_of(i) for i, p in enumerate(fleet.printers)}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PRINTFLEET_")}
        env.update({"PRINTFLEET_CONFIG": str(fleet_path), "PRINTFLEET_DATA_DIR": str(work / "data"),
                    "PRINTFLEET_REDIS_URL": redis_proc.url, "PRINTFLEET_MQTT_URL": broker.url,
                    "PRINTFLEET_SIM_URL": sim_url, "PRINTFLEET_LOG_LEVEL": "WARNING"})
        python = [sys.executable, "-m", "printfleet"]
        sim = spawn("sim", [*python, "sim", "--speed", str(args.speed), "--temp-interval", str(args.temp_interval)],
                    env=env, log_path=work / "sim.log", cwd=REPO)
        parts.append(sim)
        wait_for_port(sim, "127.0.0.1", sim_port, timeout_s=60)
        started = time.monotonic()
        start_prints(sim_url, lengths, {p for p, role in roles.items() if role == "paused"})
        print(f"machine: {os.cpu_count()} CPUs; python {sys.version.split()[0]}; printers {args.printers} "
              f"(prints started in {time.monotonic() - started:.0f} s); work dir {work}")
        monitor = spawn("monitor", [*python, "monitor"], env=env, log_path=work / "monitor.log", cwd=REPO)
        parts.append(monitor)
        web = spawn("web", [*python, "web", "--port", str(web_port)], env=env, log_path=work / "web.log", cwd=REPO)
        parts.append(web)
        wait_for_port(web, "127.0.0.1", web_port, timeout_s=60)
        expected = sum(1 for role in roles.values() if role == "printing")
        deadline = time.monotonic() + 120
        import httpx

        while time.monotonic() < deadline:
            cards = httpx.get(f"http://127.0.0.1:{web_port}/api/printers", timeout=30).json()
            showing = sum(1 for c in cards if c["state"] == "printing")
            if showing >= expected:
                break
            time.sleep(2)
        states: dict[str, int] = {}
        for card in cards:
            states[card["state"]] = states.get(card["state"], 0) + 1
        print(f"fleet as the web shows it: {dict(sorted(states.items()))}; letting it run {args.settle:.0f} s")
        time.sleep(args.settle)
        pids = {"sim": sim.pid, "monitor": monitor.pid, "web": web.pid, "redis": redis_proc.pid,
                "mosquitto": broker.pid}

        def sample_cpu() -> dict[str, float]:
            parts = {name: cpu_seconds(pid) for name, pid in pids.items()}
            parts["bench clients"] = time.process_time()  # this process: the SSE clients and the store follower
            return parts

        printing = [p for p, role in roles.items() if role == "printing"]
        on_bed = [p for p, role in roles.items() if role == "on_bed"]
        asyncio.run(measure(args, web_port, sim_url, redis_proc.url, token, printing, on_bed, sample_cpu))
    finally:
        for part in reversed(parts):
            part.stop(timeout_s=10)
        broker.stop()
        redis_proc.stop()


if __name__ == "__main__":
    main()
