"""``/api/queue``: the waiting jobs in the order the scheduler will serve them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from printfleet.web.deps import HubDep, LangDep, OptionalUser, is_staff
from printfleet.web.present import queue_entries
from printfleet.web.schemas import ErrorPublic, QueuePublic

router = APIRouter(prefix="/api", tags=["queue"])


@router.get("/queue", response_model=QueuePublic, responses={401: {"model": ErrorPublic}}, summary="The queue")
def read_queue(user: OptionalUser, hub: HubDep, lang: LangDep) -> Any:
    """Queued jobs in order (position, code, nickname, estimated start, reason), then those awaiting approval.

    Public like the wall; job ids are shown only for your own jobs (staff: all).
    """
    view = hub.view
    entries = queue_entries(view, lang.t, lang.fmt, viewer=user, staff=is_staff(user))
    return QueuePublic(data=entries, count=len(view.queue), awaiting_approval=len(view.approvals))
