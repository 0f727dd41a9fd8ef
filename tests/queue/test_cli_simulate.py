"""``printfleet simulate``: output formats, and every bad input as one line with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from printfleet import cli

REPO = Path(__file__).resolve().parents[2]
FLEET = REPO / "examples" / "fleet-weekday.yaml"
PROFILE = REPO / "configs" / "profiles" / "mk3s-0.20mm-pla.ini"

JOB = {
    "id": "j1",
    "user": "ann",
    "submitted_at": 0,
    "print_time_s": 3600,
    "filament_g": 10,
    "material": "PLA",
    "colour": "any",
    "bbox_mm": [10, 10, 10],
    "priority": 0,
}

TINY_FLEET = f"""
site: {{timezone: UTC}}
printers:
  - {{id: p1, name: P1, driver: simulated, build_volume_mm: [250, 210, 210], profile: {PROFILE}}}
"""


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["printfleet", "simulate", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
    out = capsys.readouterr()
    code = info.value.code
    return (0 if code is None else int(code)), out.out, out.err


def workload(tmp_path: Path, *jobs: dict[str, object], raw: str = "") -> Path:
    path = tmp_path / "jobs.jsonl"
    path.write_text("".join(json.dumps(j) + "\n" for j in jobs) + raw, encoding="utf-8")
    return path


def tiny_fleet(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(TINY_FLEET, encoding="utf-8")
    return path


def test_json_output_on_a_tiny_workload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = workload(tmp_path, JOB, {**JOB, "id": "j2", "user": "bob", "submitted_at": 600})
    code, out, err = run(monkeypatch, capsys, "--config", str(tiny_fleet(tmp_path)), "--workload", str(jobs), "--json")
    assert code == 0, err
    data = json.loads(out)
    for key in ("makespan_s", "utilisation", "mean_wait_s", "p95_wait_s", "jain_index", "ran_past_closing", "never_ran"):
        assert key in data
    assert data["makespan_s"] == 7200
    assert data["mean_wait_s"] == (0 + 3000) / 2
    assert data["p95_wait_s"] == 3000
    assert data["per_user"]["bob"]["jobs"] == 1
    assert data["per_user"]["bob"]["mean_wait_s"] == 3000
    assert data["per_user"]["ann"]["print_s"] == 3600
    assert data["never_ran"] == 0


def test_fifo_and_fair_differ_on_the_example(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    wl = str(REPO / "examples" / "workloads" / "busy-weekday.jsonl")
    code, out, _ = run(monkeypatch, capsys, "--config", str(FLEET), "--workload", wl, "--policy", "fifo", "--json")
    fifo = json.loads(out)
    code2, out2, _ = run(monkeypatch, capsys, "--config", str(FLEET), "--workload", wl, "--json")
    fair = json.loads(out2)
    assert code == code2 == 0
    assert fifo["policy"] == "fifo" and fair["policy"] == "fair"
    assert fair["light_mean_avoidable_wait_s"] < fifo["light_mean_avoidable_wait_s"]
    assert fair["ran_past_closing"] == fifo["ran_past_closing"] == 0
    assert fair["never_ran"] == fifo["never_ran"] >= 2


def test_table_output_names_the_jobs_that_never_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = workload(tmp_path, JOB, {**JOB, "id": "huge", "bbox_mm": [900, 900, 900]})
    code, out, err = run(monkeypatch, capsys, "--config", str(tiny_fleet(tmp_path)), "--workload", str(jobs))
    assert code == 0, err
    assert "Jain" in out and "never ran" in out
    assert "huge" in out and "big enough" in out


@pytest.mark.parametrize(
    ("jobs_text", "expected"),
    [
        ("{not json\n", "jobs.jsonl:1: malformed JSON"),
        (json.dumps({k: v for k, v in JOB.items() if k != "bbox_mm"}) + "\n", "jobs.jsonl:1: bbox_mm: missing"),
        (json.dumps({**JOB, "submitted_at": -1}) + "\n", "jobs.jsonl:1: submitted_at: must not be negative"),
        (json.dumps(JOB) + "\n" + json.dumps({**JOB, "id": "j2", "print_time_s": -3}) + "\n", "jobs.jsonl:2: print_time_s"),
    ],
)
def test_bad_workload_exits_2_with_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    jobs_text: str,
    expected: str,
) -> None:
    jobs = workload(tmp_path, raw=jobs_text)
    code, out, err = run(monkeypatch, capsys, "--config", str(tiny_fleet(tmp_path)), "--workload", str(jobs))
    assert code == 2
    assert out == ""
    assert expected in err
    assert str(jobs) in err
    assert len(err.strip().splitlines()) == 1


def test_missing_files_and_unknown_policy_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = workload(tmp_path, JOB)
    code, _, err = run(monkeypatch, capsys, "--config", str(tmp_path / "nope.yaml"), "--workload", str(jobs))
    assert code == 2 and "nope.yaml: file not found" in err
    code, _, err = run(monkeypatch, capsys, "--config", str(FLEET), "--workload", str(tmp_path / "none.jsonl"))
    assert code == 2 and "none.jsonl: file not found" in err
    code, _, err = run(monkeypatch, capsys, "--config", str(FLEET), "--workload", str(jobs), "--policy", "lifo")
    assert code == 2 and "--policy: unknown policy 'lifo'" in err
    assert len(err.strip().splitlines()) == 1


def test_bad_fleet_file_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(TINY_FLEET + "policy: {max_heating: 0}\n", encoding="utf-8")
    code, _, err = run(monkeypatch, capsys, "--config", str(fleet), "--workload", str(workload(tmp_path, JOB)))
    assert code == 2 and "policy.max_heating" in err


def test_the_installed_command(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "printfleet"
    jobs = workload(tmp_path, raw='{"id": "x"}\n')
    proc = subprocess.run(
        [str(exe), "simulate", "--config", str(FLEET), "--workload", str(jobs)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"printfleet: {jobs}:1: user: missing"
