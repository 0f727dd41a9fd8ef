"""The ``policy:`` section of the fleet file and the SiteRules built from it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from printfleet.config import FleetConfig, load_fleet
from printfleet.errors import ConfigError
from printfleet.queue.policy import Ordering, PrinterStatus
from printfleet.queue.rules import PolicyConfig, printer_snapshot, site_rules

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "configs" / "profiles" / "mk3s-0.20mm-pla.ini"

FLEET = f"""
site:
  timezone: Europe/Berlin
  opening_hours: {{mon: "09:00-22:00", sat: "10:00-18:00"}}
  unattended_printing: false
  closing_margin_min: 20
policy:
  ordering: fifo
  fair_share_window_h: 72
  weights: {{robotics-club: 2}}
  long_job_h: 3
  long_job_share: 0.5
  max_jobs_at_once: 2
  max_hours_per_day: 12
  approval: {{over_hours: 10, over_grams: 400, materials: [abs, asa], new_member_jobs: 1}}
  max_heating: 3
  heatup_min: 8
printers:
  - id: mk3s-1
    name: MK3S
    driver: simulated
    build_volume_mm: [250, 210, 210]
    material: petg
    colour: Black
    profile: {PROFILE}
    tags: [Room-A]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "printers.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_policy_section_becomes_site_rules(tmp_path: Path) -> None:
    fleet = load_fleet(write(tmp_path, FLEET))
    rules = site_rules(fleet)
    assert rules.timezone == "Europe/Berlin"
    assert rules.opening_hours == {0: ((dt.time(9), dt.time(22)),), 5: ((dt.time(10), dt.time(18)),)}
    assert rules.unattended_printing is False
    assert rules.closing_margin_s == 20 * 60
    assert rules.ordering is Ordering.FIFO
    assert rules.fair_share_window_s == 72 * 3600
    assert rules.weight("robotics-club") == 2 and rules.weight("ann") == 1
    assert rules.long_job_s == 3 * 3600 and rules.long_job_share == 0.5
    assert rules.max_jobs_at_once == 2
    assert rules.max_print_s_per_day == 12 * 3600 and rules.max_print_s_per_week is None
    assert rules.approval_over_print_s == 10 * 3600 and rules.approval_over_g == 400
    assert rules.approval_materials == {"ABS", "ASA"}
    assert rules.approval_new_member_jobs == 1
    assert rules.max_heating == 3 and rules.heatup_s == 8 * 60
    assert site_rules(fleet, ordering="fair").ordering is Ordering.FAIR


def test_defaults_without_a_policy_section() -> None:
    fleet = FleetConfig()
    assert fleet.policy == PolicyConfig()
    rules = site_rules(fleet)
    assert rules.ordering is Ordering.FAIR
    assert rules.opening_hours is None and rules.calendar.always_open
    assert rules.max_heating is None


def test_printer_snapshot_from_the_fleet_file(tmp_path: Path) -> None:
    fleet = load_fleet(write(tmp_path, FLEET))
    snap = printer_snapshot(fleet.printers[0], status=PrinterStatus.PRINTING, available_at=100.0)
    assert snap.id == "mk3s-1"
    assert snap.material == "PETG" and snap.colour == "black"
    assert snap.tags == {"room-a"}
    assert snap.build_volume_mm == (250, 210, 210)
    assert snap.status is PrinterStatus.PRINTING and snap.available_at == 100.0


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("weights: {robotics-club: 2}", "weights: {robotics-club: 0}", "policy.weights"),
        ("long_job_share: 0.5", "long_job_share: 1.5", "policy.long_job_share"),
        ("max_heating: 3", "max_heating: 0", "policy.max_heating"),
        ("ordering: fifo", "ordering: lifo", "policy.ordering"),
        ("fair_share_window_h: 72", "colour_of_the_day: red", "policy.colour_of_the_day: unknown key"),
        ("new_member_jobs: 1", "new_member_jobs: -1", "policy.approval.new_member_jobs"),
    ],
)
def test_bad_policy_values_name_the_field(tmp_path: Path, old: str, new: str, where: str) -> None:
    assert old in FLEET
    with pytest.raises(ConfigError) as info:
        load_fleet(write(tmp_path, FLEET.replace(old, new)))
    message = str(info.value)
    assert str(tmp_path / "printers.yaml") in message
    assert where in message
    assert "\n" not in message


def test_scarce_wait_knob(tmp_path: Path) -> None:
    assert site_rules(load_fleet(write(tmp_path, FLEET))).scarce_wait_s == 0.0
    fleet = load_fleet(write(tmp_path, FLEET.replace("  heatup_min: 8\n", "  heatup_min: 8\n  scarce_wait_h: 12\n")))
    assert site_rules(fleet).scarce_wait_s == 12 * 3600.0
    fleet = load_fleet(write(tmp_path, FLEET.replace("  heatup_min: 8\n", "  heatup_min: 8\n  scarce_wait_h: null\n")))
    assert site_rules(fleet).scarce_wait_s is None
    with pytest.raises(ValueError):
        PolicyConfig(scarce_wait_h=-1)
