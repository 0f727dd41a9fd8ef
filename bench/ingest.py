"""MQTT ingest benchmark: simulated printers -> real Mosquitto -> StatusService -> Redis.

    .venv/bin/python bench/ingest.py [--printers 500] [--rate 2] [--duration 30]

Starts a private redis-server and mosquitto, a StatusService in a child process (the "ingesting
process", as the monitor runs it: MQTT only, publishing its own normalised states), and a publisher
child that plays N printers sending ``temperature/tool0`` in the OctoPrint-MQTT layout at a paced rate.
Every message carries a sequence number (as the reading) and a precise ``_timestamp``, so every message
changes the state and is announced on Redis; this process follows the announcements and reports:

* lost messages (published but never stored/announced),
* CPU of the ingesting process as % of one core (from /proc, over the publishing window + drain),
* publish-to-stored latency percentiles (announcement received - ``_timestamp``; an upper bound).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def write_fleet(directory: Path, count: int) -> Path:
    """A fleet file of ``count`` simulated printers (default base topics)."""
    (directory / "p.ini").write_text("; profile\n")
    lines = ["printers:"]
    for i in range(count):
        lines.append(
            f"  - {{id: b-{i:04d}, name: B{i}, driver: simulated, build_volume_mm: [200, 200, 200], "
            "profile: p.ini}"
        )
    path = directory / "printers.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- children


def child_ingest(fleet_path: str, redis_url: str, mqtt_url: str) -> None:
    """Run the status service until SIGTERM; print its counters as JSON."""
    from printfleet.config import load_fleet
    from printfleet.ingest.service import StatusService
    from printfleet.settings import Settings

    settings = Settings(redis_url=redis_url, mqtt_url=mqtt_url, config=Path(fleet_path))
    service = StatusService(load_fleet(fleet_path), settings, poll=False, silence_s=3600)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    service.start()
    service.link.wait_connected(10)
    print("ready", flush=True)
    stop.wait()
    service.stop()
    print(json.dumps(vars(service.stats)), flush=True)


def child_publish(mqtt_url: str, printers: int, rate: float, duration_s: float) -> None:
    """Publish ``printers x rate`` msg/s for ``duration_s`` in 10 ms batches; print the count."""
    import paho.mqtt.client as mqtt

    host, port = mqtt_url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    client.max_queued_messages_set(0)
    client.connect(host, int(port))
    client.loop_start()
    bases = [f"printfleet-sim/b-{i:04d}/octoPrint/" for i in range(printers)]
    for base in bases:  # every printer is connected and operational first (not part of the measurement)
        client.publish(base + "mqtt", "connected", qos=1, retain=True)
        client.publish(
            base + "event/PrinterStateChanged",
            json.dumps(
                {
                    "state_id": "OPERATIONAL",
                    "state_string": "Operational",
                    "_event": "PrinterStateChanged",
                    "_timestamp": int(time.time()),
                }
            ),
            qos=0,
        )
    time.sleep(2.0)
    topics = [base + "temperature/tool0" for base in bases]
    print("start", flush=True)
    total = int(printers * rate * duration_s)
    per_tick = printers * rate / 100.0
    start = time.monotonic()
    sent = 0
    tick = 0
    while sent < total:
        tick += 1
        due = min(total, int(per_tick * tick))
        while sent < due:
            index = sent % printers
            seq = sent // printers
            body = json.dumps({"actual": float(seq), "target": 0.0, "_timestamp": time.time()})
            client.publish(topics[index], body, qos=0)
            sent += 1
        delay = start + tick * 0.01 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    seconds = time.monotonic() - start
    client.loop_stop()
    client.disconnect()
    print(json.dumps({"sent": sent, "seconds": seconds}), flush=True)


# ---------------------------------------------------------------- main


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100.0 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--printers", type=int, default=500)
    parser.add_argument("--rate", type=float, default=2.0, help="messages per printer per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of publishing")
    parser.add_argument("--child", choices=["ingest", "publish"], help=argparse.SUPPRESS)
    parser.add_argument("--fleet", help=argparse.SUPPRESS)
    parser.add_argument("--redis", help=argparse.SUPPRESS)
    parser.add_argument("--mqtt", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "ingest":
        child_ingest(args.fleet, args.redis, args.mqtt)
        return
    if args.child == "publish":
        child_publish(args.mqtt, args.printers, args.rate, args.duration)
        return

    import redis

    from printfleet.services import start_mosquitto, start_redis
    from printfleet.store import STATE_CHANGED_CHANNEL

    work = Path(tempfile.mkdtemp(prefix="printfleet-bench-"))
    redis_proc = start_redis(work / "redis", appendonly=False)
    broker = start_mosquitto(work / "mosquitto", persistence=False)
    fleet_path = write_fleet(work, args.printers)
    me = [sys.executable, str(Path(__file__).resolve())]
    ingest = subprocess.Popen(
        [
            *me,
            "--child",
            "ingest",
            "--fleet",
            str(fleet_path),
            "--redis",
            redis_proc.url,
            "--mqtt",
            broker.url,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert ingest.stdout is not None
        if ingest.stdout.readline().strip() != "ready":
            raise SystemExit("the ingesting process did not start")

        received: dict[str, set[float]] = {}
        latencies_ms: list[float] = []
        last_at = [time.monotonic()]
        client = redis.Redis.from_url(redis_proc.url)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(STATE_CHANGED_CHANNEL)
        following = threading.Event()
        following.set()

        def follow() -> None:
            while following.is_set():
                message = pubsub.get_message(timeout=0.2)
                if message is None:
                    continue
                now = time.time()
                data = json.loads(message["data"])
                stamp = dt.datetime.fromisoformat(data["observed_at"]).timestamp()
                latencies_ms.append((now - stamp) * 1000.0)
                for temp in data["temps"]:
                    received.setdefault(data["printer_id"], set()).add(temp["actual"])
                last_at[0] = time.monotonic()

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        time.sleep(0.5)

        publisher = subprocess.Popen(
            [
                *me,
                "--child",
                "publish",
                "--mqtt",
                broker.url,
                "--printers",
                str(args.printers),
                "--rate",
                str(args.rate),
                "--duration",
                str(args.duration),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert publisher.stdout is not None
        publisher.stdout.readline()  # "start": printers announced, the measured messages begin now
        received.clear()
        latencies_ms.clear()
        cpu0, wall0 = cpu_seconds(ingest.pid), time.monotonic()
        sent = json.loads(publisher.communicate()[0].strip().splitlines()[-1])
        expected = sent["sent"]
        deadline = time.monotonic() + 10
        while sum(len(v) for v in received.values()) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        while time.monotonic() - last_at[0] < 0.5 and time.monotonic() < deadline:
            time.sleep(0.05)  # drained
        cpu1, wall1 = cpu_seconds(ingest.pid), last_at[0]
        following.clear()
        follower.join(2)
        got = sum(len(v) for v in received.values())
        ingest.send_signal(signal.SIGTERM)
        stats_line = ingest.communicate(timeout=20)[0].strip().splitlines()[-1]
        stats = json.loads(stats_line)

        cpu_pct = 100.0 * (cpu1 - cpu0) / max(1e-9, wall1 - wall0)
        print(
            f"printers {args.printers} x {args.rate:g} msg/s for {args.duration:g} s "
            f"(published {expected} in {sent['seconds']:.1f} s = {expected / sent['seconds']:.0f} msg/s)"
        )
        print(
            f"stored+announced: {got}  lost: {expected - got}  "
            f"(ingest counters: messages {stats['messages']}, stored {stats['stored']}, "
            f"changed {stats['changed']}, stale {stats['stale']}, malformed {stats['malformed']})"
        )
        print(f"ingesting process CPU: {cpu_pct:.1f} % of one core over {wall1 - wall0:.1f} s")
        print(
            "publish-to-stored latency ms: p50 {:.1f}  p95 {:.1f}  p99 {:.1f}  max {:.1f}".format(
                percentile(latencies_ms, 50),
                percentile(latencies_ms, 95),
                percentile(latencies_ms, 99),
                max(latencies_ms) if latencies_ms else float("nan"),
            )
        )
        ok = expected == got and cpu_pct <= 25.0 and percentile(latencies_ms, 99) <= 50.0
        print("targets (no loss, <= 25 % CPU, p99 <= 50 ms):", "met" if ok else "NOT met")
        client.close()
    finally:
        if ingest.poll() is None:
            ingest.kill()
        broker.stop()
        redis_proc.stop()


if __name__ == "__main__":
    main()
