"""``/api/printers``: the printer cards of the fleet (pre-encoded, :mod:`printfleet.web.cards`) and the printer
actions."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from sqlmodel import col, select

from printfleet.errors import Forbidden
from printfleet.models import Job, JobStatus
from printfleet.queue import actions as service
from printfleet.texts import N_
from printfleet.web.actions import printer_config
from printfleet.web.deps import CurrentUser, FleetDep, HubDep, SessionDep, StaffUser, is_staff
from printfleet.web.schemas import (
    ErrorPublic,
    MaintenanceIn,
    PrinterActionResult,
    PrinterCancelIn,
    PrinterPublic,
)

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/printers", tags=["printers"])

ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorPublic} for code in (401, 403, 404, 409, 422)}


@router.get(
    "",
    summary="Live state of every printer",
    response_class=Response,
    responses={200: {"model": list[PrinterPublic], "content": {"application/json": {}}}},
)
def read_printers(hub: HubDep) -> Response:
    """Every printer's card: what it says (``state``: bed and maintenance included), status, progress,
    temperatures, expected finish, current job (code and nickname) and which staff actions apply.

    Public, like the wall screen: it holds no addresses, keys, file or user names.
    """
    return Response(hub.printers_body(), media_type="application/json")


@router.get(
    "/{printer_id}",
    summary="Live state of one printer",
    response_class=Response,
    responses={200: {"model": PrinterPublic, "content": {"application/json": {}}}, **ERRORS},
)
def read_printer(printer_id: str, hub: HubDep, fleet: FleetDep) -> Response:
    """One printer's card (public): the same bytes as its entry in ``GET /api/printers``."""
    printer_config(fleet, printer_id)
    return Response(hub.printer_json(printer_id), media_type="application/json")


def _client(request: Request) -> Any:
    return request.app.state.redis


def _command(request: Request, session: Any, fleet: Any, printer_id: str, command: str, user: Any,
             reason: str = "") -> PrinterActionResult:
    printer_config(fleet, printer_id)
    service.command_printer(session, _client(request), printer_id, command, actor=user.name, reason=reason)
    session.commit()
    return PrinterActionResult(printer_id=printer_id, action=command, ok=True, detail="sent to the printer")


@router.post("/{printer_id}/pause", status_code=202, response_model=PrinterActionResult, responses=ERRORS,
             summary="Pause the print")
def pause_printer(request: Request, printer_id: str, session: SessionDep, user: StaffUser, fleet: FleetDep) -> Any:
    """Staff: pause the print in progress (a worker sends the command)."""
    return _command(request, session, fleet, printer_id, "pause", user)


@router.post("/{printer_id}/resume", status_code=202, response_model=PrinterActionResult, responses=ERRORS,
             summary="Resume the print")
def resume_printer(request: Request, printer_id: str, session: SessionDep, user: StaffUser, fleet: FleetDep) -> Any:
    """Staff: resume a paused print."""
    return _command(request, session, fleet, printer_id, "resume", user)


@router.post("/{printer_id}/cancel", status_code=202, response_model=PrinterActionResult, responses=ERRORS,
             summary="Cancel the print")
def cancel_printer(
    request: Request, printer_id: str, session: SessionDep, user: StaffUser, fleet: FleetDep,
    body: Annotated[PrinterCancelIn | None, Body()] = None,
) -> Any:
    """Staff: stop the print in progress, with an optional reason; its job ends as cancelled when the printer
    reports it stopped."""
    return _command(request, session, fleet, printer_id, "cancel", user, reason=(body or PrinterCancelIn()).reason)


@router.post("/{printer_id}/bed-clear", response_model=PrinterActionResult, responses=ERRORS,
             summary="Confirm the bed is clear")
def clear_printer_bed(request: Request, printer_id: str, session: SessionDep, user: CurrentUser, fleet: FleetDep) -> Any:
    """Staff, or the owner of the last print on it: the bed is empty, the printer may take the next job."""
    printer_config(fleet, printer_id)
    if not is_staff(user):
        last = session.exec(
            select(Job).where(Job.printer_id == printer_id, col(Job.status).in_([JobStatus.DONE, JobStatus.COLLECTED]))
            .order_by(col(Job.finished_at).desc()).limit(1)
        ).first()
        if last is None or last.owner_id != user.id:
            raise Forbidden(N_("only staff or the owner of the last print on it can clear this bed"),
                            code="not_your_bed")
    service.clear_bed(session, _client(request), printer_id, actor=user.name)
    session.commit()
    return PrinterActionResult(printer_id=printer_id, action="bed-clear", ok=True)


@router.post("/{printer_id}/maintenance", response_model=PrinterActionResult, responses=ERRORS,
             summary="Maintenance mode on or off")
def update_printer_maintenance(
    request: Request, printer_id: str, session: SessionDep, user: StaffUser, fleet: FleetDep,
    body: Annotated[MaintenanceIn | None, Body()] = None,
) -> Any:
    """Staff: take a printer out of dispatch without touching its current print (``enabled: false`` ends it)."""
    body = body or MaintenanceIn()
    printer_config(fleet, printer_id)
    service.set_maintenance(session, _client(request), printer_id, body.enabled, actor=user.name, reason=body.reason)
    session.commit()
    return PrinterActionResult(printer_id=printer_id, action="maintenance", ok=True,
                               detail="on" if body.enabled else "off")
