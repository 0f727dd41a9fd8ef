"""Web benchmarks: the printer list against pre-encoded bytes, and SSE fan-out latency.

    .venv/bin/python bench/web.py [--printers 200] [--clients 100] [--rate 1000] [--seconds 5]

Starts a private redis-server, fills the state store with ``--printers`` printing printers, and serves
``create_app`` with uvicorn (1 worker, uvloop + httptools, access log off) in a child process, with one extra
route, ``/bench/raw``, returning the same bytes ``GET /api/printers`` returned at start-up as a plain
``Response`` (the framework's limit). Then:

1. **Printer list**: a keep-alive HTTP/1.1 load generator (asyncio, 32 connections, in this process)
   alternates ``/bench/raw`` and ``/api/printers`` in rounds of ``--seconds`` (3 rounds each) and prints
   requests per second and the ratio (target >= 50 %).
2. **SSE fan-out**: ``--clients`` connections follow ``/events`` while a publisher process puts ``--rate``
   state changes per second into the state store (Redis pub/sub -> the web process -> SSE). Every 50 ms one
   update of printer ``bench-0000`` carries the publish time in ``observed_at``; each client's receive time
   minus it is one latency sample. Prints p50/p95/p99/max (target p99 <= 250 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def write_fleet(directory: Path, count: int) -> Path:
    """A fleet file of ``count`` simulated printers."""
    profile = REPO / "configs" / "profiles" / "mk3s-0.20mm-pla.ini"
    lines = ["site: {name: Bench lab, timezone: Europe/Berlin, locale: en}", "printers:"]
    for i in range(count):
        lines.append(f"  - {{id: bench-{i:04d}, name: 'Bench #{i}', driver: simulated, "
                     f"build_volume_mm: [250, 210, 210], profile: {profile}}}")
    path = directory / "fleet.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def state(printer_id: str, fraction: float, observed: dt.datetime):
    """A printing state with temperatures."""
    from printfleet.state import JobProgress, PrinterState, PrinterStatus, StateSource, Temperature

    return PrinterState(
        printer_id, PrinterStatus.PRINTING, observed, StateSource.MQTT,
        job=JobProgress("bench.gcode", fraction, 600.0 * fraction, 600.0 * (1 - fraction)),
        temps=(Temperature("bed", 60.0 + fraction, 60.0), Temperature("tool0", 215.0 + fraction, 215.0)),
    )  # fmt: skip


def serve(settings_json: str, port: int) -> None:
    """Child: the app plus ``/bench/raw`` under uvicorn."""
    import logging

    import uvicorn
    from fastapi import Response

    from printfleet.settings import Settings
    from printfleet.web.app import create_app

    logging.basicConfig(level=logging.WARNING)
    settings = Settings.model_validate_json(settings_json)
    app = create_app(settings)
    raw: dict[str, bytes] = {}

    @app.get("/bench/raw", include_in_schema=False)
    def bench_raw() -> Response:
        if "body" not in raw:
            raw["body"] = bytes(app.state.hub.printers_body())
        return Response(raw["body"], media_type="application/json")

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, loop="uvloop",
                http="httptools", workers=1)


def publish(redis_url: str, count: int, rate: float, seconds: float, start_at: float) -> None:
    """Child: ``rate`` state changes per second spread over the printers; a timed probe every 50 ms."""
    from printfleet.store import StateStore

    store = StateStore.from_url(redis_url)
    batch = max(1, int(rate / 100))  # 100 batches per second
    interval = batch / rate
    i = 0
    while time.time() < start_at:
        time.sleep(0.001)
    end = start_at + seconds
    next_at = start_at
    next_probe = start_at
    while time.time() < end:
        now = dt.datetime.now(dt.UTC)
        states = []
        for _ in range(batch):
            pid = f"bench-{1 + i % (count - 1):04d}"
            states.append(state(pid, (i % 997) / 1000, now))
            i += 1
        if time.time() >= next_probe:
            states[0] = state("bench-0000", (i % 991) / 1000, dt.datetime.now(dt.UTC))
            next_probe += 0.05
        store.put_many(states)
        next_at += interval
        delay = next_at - time.time()
        if delay > 0:
            time.sleep(delay)
    store.close()


async def _http_load(port: int, path: str, seconds: float, connections: int = 32) -> tuple[int, int]:
    """Keep-alive GETs for ``seconds``; returns (responses, bytes)."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    done = 0
    total_bytes = 0
    end = time.monotonic() + seconds

    async def one() -> None:
        nonlocal done, total_bytes
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < end:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(head[:60])
                done += 1
                total_bytes += len(body)
        finally:
            writer.close()

    await asyncio.gather(*(one() for _ in range(connections)))
    return done, total_bytes


async def sse_blocks(reader: asyncio.StreamReader, done: Callable[[], bool]) -> AsyncIterator[tuple[float, bytes]]:
    """Whole SSE events as they arrive on a stream: (when they were read, their bytes), until ``done()`` or the
    stream ends."""
    buffer = b""
    while not done():
        try:
            chunk = await asyncio.wait_for(reader.read(1 << 17), timeout=0.5)
        except TimeoutError:
            continue
        if not chunk:
            return
        now = time.time()
        buffer += chunk
        cut = buffer.rfind(b"\n\n")
        if cut < 0:
            continue
        complete, buffer = buffer[: cut + 2], buffer[cut + 2:]
        yield now, complete


async def _sse_clients(port: int, clients: int, seconds: float, warmup: float) -> tuple[list[float], int, int]:
    """``clients`` SSE connections; latency samples (s) of the probe printer after ``warmup``."""
    samples: list[float] = []
    events = 0
    connected = 0
    marker = b'"id":"bench-0000"'
    start = time.time()
    end = start + warmup + seconds

    async def one() -> None:
        nonlocal events, connected
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")
        connected += 1
        try:
            async for now, complete in sse_blocks(reader, lambda: time.time() >= end):
                events += complete.count(b"event: ")
                pos = complete.find(marker)
                while pos >= 0:
                    at = complete.find(b'"observed_at":"', pos)
                    if at >= 0 and now - start > warmup:
                        stamp = complete[at + 15: complete.index(b'"', at + 15)].decode()
                        samples.append(now - dt.datetime.fromisoformat(stamp).timestamp())
                    pos = complete.find(marker, pos + 1)
        finally:
            writer.close()

    await asyncio.gather(*(one() for _ in range(clients)))
    return samples, events, connected


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    """Run both benchmarks and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--printers", type=int, default=200)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rate", type=float, default=1000.0, help="state changes per second")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each measuring round")
    args = parser.parse_args()

    from printfleet import db
    from printfleet.services import free_port, start_redis, wait_for_port
    from printfleet.settings import Settings
    from printfleet.store import StateStore

    tmp = Path(tempfile.mkdtemp(prefix="printfleet-bench-web-"))
    redis_proc = start_redis(tmp / "redis", appendonly=False)
    try:
        settings = Settings(config=write_fleet(tmp, args.printers), data_dir=tmp / "data", redis_url=redis_proc.url,
                            mqtt_url="mqtt://127.0.0.1:1")
        settings.ensure_data_dir()
        engine = db.make_engine(settings.effective_database_url)
        db.upgrade(engine)
        engine.dispose()
        store = StateStore.from_url(redis_proc.url)
        now = dt.datetime.now(dt.UTC)
        store.put_many(state(f"bench-{i:04d}", i / args.printers, now) for i in range(args.printers))
        store.close()

        port = free_port()
        ctx = mp.get_context("spawn")
        server = ctx.Process(target=serve, args=(settings.model_dump_json(), port), daemon=True)
        server.start()
        wait_for_port(None, "127.0.0.1", port, timeout_s=30)
        time.sleep(1.0)

        body = asyncio.run(_http_load(port, "/api/printers", 0.5, connections=1))
        print(f"machine: {os.cpu_count()} CPUs; python {sys.version.split()[0]}; printers {args.printers}")
        print(f"GET /api/printers body: {body[1] // max(body[0], 1):,} bytes")
        rates: dict[str, list[float]] = {"/bench/raw": [], "/api/printers": []}
        for _ in range(3):
            for path, rate in rates.items():
                count, _ = asyncio.run(_http_load(port, path, args.seconds))
                rate.append(count / args.seconds)
        raw, api = statistics.median(rates["/bench/raw"]), statistics.median(rates["/api/printers"])
        print("1. printer list (32 keep-alive connections, median of 3 interleaved rounds)")
        print(f"   pre-encoded bytes  /bench/raw     {raw:8.0f} req/s   rounds {[round(r) for r in rates['/bench/raw']]}")
        print(f"   GET /api/printers                 {api:8.0f} req/s   rounds {[round(r) for r in rates['/api/printers']]}")
        print(f"   ratio {api / raw:.0%} (target >= 50 %)")

        warmup = 2.0
        start_at = time.time() + 1.5
        publisher = ctx.Process(target=publish, args=(redis_proc.url, args.printers, args.rate, warmup + args.seconds + 1.5,
                                                      start_at), daemon=True)  # fmt: skip
        publisher.start()
        samples, events, connected = asyncio.run(_sse_clients(port, args.clients, args.seconds, warmup + 1.5))
        publisher.join(timeout=30)
        print(f"2. SSE fan-out: {connected} clients, {args.rate:.0f} state changes/s for {args.seconds:.0f} s "
              f"(after {warmup + 1.5:.1f} s warm-up)")
        if samples:
            ms = [s * 1000 for s in samples]
            print(f"   {len(ms)} probe samples, {events:,} events delivered in total")
            print(f"   latency p50 {pct(ms, .5):.0f} ms, p95 {pct(ms, .95):.0f} ms, p99 {pct(ms, .99):.0f} ms, "
                  f"max {max(ms):.0f} ms (target p99 <= 250 ms)")
        else:
            print("   no samples received")
        server.terminate()
        server.join(timeout=10)
    finally:
        redis_proc.stop()


if __name__ == "__main__":
    main()
