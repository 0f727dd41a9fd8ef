"""The ``policy:`` section of the fleet file, and turning a fleet file into :class:`SiteRules`.

Example::

    site:
      timezone: Europe/Berlin
      opening_hours: {mon: "09:00-22:00", sat: "10:00-18:00"}
      unattended_printing: false
      closing_margin_min: 15
    policy:
      ordering: fair               # fair | fifo | least-used
      fair_share_window_h: 168     # printer-hours used in the last week count against a member
      weights: {robotics-club: 2}  # a larger share for some accounts
      long_job_h: 2                # while the space is open, prints of 2 h or more ...
      long_job_share: 0.8          # ... may hold at most 80 % of the printers
      overnight_start: true        # unattended printing: start overnight prints as late as is free
      scarce_wait_h: 0             # a job only one printer can take, waiting since before opening, goes first there
      max_jobs_at_once: 2
      max_hours_per_day: 12
      approval: {over_hours: 12, over_grams: 500, materials: [ABS, ASA], new_member_jobs: 1}
      max_heating: 4               # at most 4 printers heating up at once
      heatup_min: 8
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from printfleet.queue.policy import Ordering, PrinterSnapshot, PrinterStatus, SiteRules

if TYPE_CHECKING:
    from printfleet.config import FleetConfig, PrinterConfig

logger = logging.getLogger(__name__)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApprovalConfig(_Strict):
    """Which jobs need staff approval before they may print (unset: never for that rule)."""

    over_hours: float | None = Field(default=None, gt=0, description="estimated print time above this")
    over_grams: float | None = Field(default=None, gt=0, description="filament above this")
    materials: tuple[str, ...] = Field(default=(), description="materials that always need approval")
    new_member_jobs: int = Field(default=0, ge=0, description="a member's first N prints need approval")

    @field_validator("materials")
    @classmethod
    def _upper(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(m.strip().upper() for m in value)


class PolicyConfig(_Strict):
    """How the queue is shared: ordering, fair share, caps, approval and heat-up staggering."""

    requeue_failed: Literal["approval", "queue", "never"] = Field(
        default="approval",
        description="after a failed print: back to the front of the queue once staff approve (approval), "
        "straight back (queue), or stay failed (never)",
    )
    ordering: Ordering = Ordering.FAIR
    fair_share_window_h: float = Field(default=168, gt=0, le=24 * 366)
    weights: dict[str, float] = Field(default_factory=dict, description="user -> weight (default 1)")
    default_weight: float = Field(default=1.0, gt=0)
    long_job_h: float = Field(default=2.0, gt=0)
    long_job_share: float | None = Field(default=0.8, gt=0, le=1, description="unset: no throttle")
    max_jobs_at_once: int | None = Field(default=None, ge=1, description="per member")
    max_hours_per_day: float | None = Field(default=None, gt=0, description="per member, jobs started that day")
    max_hours_per_week: float | None = Field(default=None, gt=0, description="per member, Monday to Sunday")
    approval: ApprovalConfig = ApprovalConfig()
    max_heating: int | None = Field(default=None, ge=1, description="printers heating up at once")
    heatup_min: float = Field(default=10, ge=0, le=120)
    allow_material_swap: bool = False
    material_swap_min: float = Field(default=15, ge=0)
    backlog_weight: float = Field(default=1.0, ge=0, le=1, description="share of queued work counted in a claim")
    overnight_start: bool = True
    flex_defer_min: float = Field(default=30, ge=0, le=24 * 60)
    scarce_wait_h: float | None = Field(
        default=0,
        ge=0,
        description="a job only one printer can take that was waiting when the space opened, and for this many "
        "hours, goes first on that printer (unset: never)",
    )

    @field_validator("weights")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        for user, weight in value.items():
            if weight <= 0:
                raise ValueError(f"{user}: weight must be > 0")
        return value


def site_rules(fleet: FleetConfig, *, ordering: Ordering | str | None = None) -> SiteRules:
    """The :class:`SiteRules` of a fleet file; ``ordering`` overrides the file's (e.g. for the simulator)."""
    site = fleet.site
    pol: PolicyConfig = getattr(fleet, "policy", None) or PolicyConfig()
    return SiteRules(
        timezone=site.timezone,
        opening_hours=site.opening_ranges(),
        unattended_printing=site.unattended_printing,
        closing_margin_s=site.closing_margin_min * 60.0,
        ordering=Ordering(ordering) if ordering is not None else pol.ordering,
        fair_share_window_s=pol.fair_share_window_h * 3600.0,
        user_weights=dict(pol.weights),
        default_weight=pol.default_weight,
        long_job_s=pol.long_job_h * 3600.0,
        long_job_share=pol.long_job_share,
        max_jobs_at_once=pol.max_jobs_at_once,
        max_print_s_per_day=None if pol.max_hours_per_day is None else pol.max_hours_per_day * 3600.0,
        max_print_s_per_week=None if pol.max_hours_per_week is None else pol.max_hours_per_week * 3600.0,
        approval_over_print_s=None if pol.approval.over_hours is None else pol.approval.over_hours * 3600.0,
        approval_over_g=pol.approval.over_grams,
        approval_materials=frozenset(pol.approval.materials),
        approval_new_member_jobs=pol.approval.new_member_jobs,
        max_heating=pol.max_heating,
        heatup_s=pol.heatup_min * 60.0,
        allow_material_swap=pol.allow_material_swap,
        material_swap_s=pol.material_swap_min * 60.0,
        backlog_weight=pol.backlog_weight,
        overnight_hold=pol.overnight_start,
        flex_defer_s=pol.flex_defer_min * 60.0,
        scarce_wait_s=None if pol.scarce_wait_h is None else pol.scarce_wait_h * 3600.0,
    )


def printer_snapshot(printer: PrinterConfig, **state: object) -> PrinterSnapshot:
    """A :class:`PrinterSnapshot` from a fleet-file printer; ``state`` sets status, ``available_at``, ..."""
    fields: dict[str, object] = {
        "id": printer.id,
        "build_volume_mm": tuple(printer.build_volume_mm),
        "nozzle_mm": printer.nozzle_mm,
        "material": printer.material,
        "colour": printer.colour,
        "tags": frozenset(printer.tags),
        "status": PrinterStatus.IDLE,
    }
    fields.update(state)
    return PrinterSnapshot(**fields)  # type: ignore[arg-type]
