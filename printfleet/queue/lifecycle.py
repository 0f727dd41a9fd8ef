"""The job state machine (pure): which transitions are allowed, and the plain-words error when not.

::

    uploaded -> awaiting_approval -> queued -> assigned -> slicing -> uploading -> printing <-> paused
                                                                                      -> done -> collected
    any active state -> failed | cancelled;  awaiting_approval -> rejected
    failed | cancelled -> queued | awaiting_approval   (requeue)
    assigned | slicing | uploading -> queued           (dispatch given back before the printer started)
"""

from __future__ import annotations

from printfleet.errors import UserError
from printfleet.models import JobStatus
from printfleet.texts import N_

S = JobStatus

#: states a job can leave, and where to
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    S.UPLOADED: frozenset({S.AWAITING_APPROVAL, S.QUEUED, S.CANCELLED, S.FAILED}),
    S.AWAITING_APPROVAL: frozenset({S.QUEUED, S.REJECTED, S.CANCELLED}),
    S.QUEUED: frozenset({S.ASSIGNED, S.AWAITING_APPROVAL, S.CANCELLED, S.FAILED}),
    S.ASSIGNED: frozenset({S.SLICING, S.UPLOADING, S.QUEUED, S.CANCELLED, S.FAILED}),
    S.SLICING: frozenset({S.UPLOADING, S.QUEUED, S.CANCELLED, S.FAILED}),
    S.UPLOADING: frozenset({S.PRINTING, S.QUEUED, S.CANCELLED, S.FAILED}),
    S.PRINTING: frozenset({S.PAUSED, S.DONE, S.FAILED, S.CANCELLED}),
    S.PAUSED: frozenset({S.PRINTING, S.FAILED, S.CANCELLED}),
    S.DONE: frozenset({S.COLLECTED}),
    S.FAILED: frozenset({S.QUEUED, S.AWAITING_APPROVAL}),
    S.CANCELLED: frozenset({S.QUEUED, S.AWAITING_APPROVAL}),
    S.COLLECTED: frozenset(),
    S.REJECTED: frozenset(),
}

#: a printer is busy with a job in one of these
ON_PRINTER: frozenset[JobStatus] = frozenset({S.ASSIGNED, S.SLICING, S.UPLOADING, S.PRINTING, S.PAUSED})
#: the job waits for a printer
WAITING: frozenset[JobStatus] = frozenset({S.QUEUED})
#: nothing more will happen unless someone requeues
ENDED: frozenset[JobStatus] = frozenset({S.DONE, S.COLLECTED, S.FAILED, S.CANCELLED, S.REJECTED})


class IllegalTransition(UserError):
    """The job cannot go from its current state to the one asked for."""

    http_status = 409
    code = "illegal_transition"

    def __init__(self, job_id: int | None, current: JobStatus, target: JobStatus) -> None:
        super().__init__(N_("job %(job_id)s is %(status)s and cannot become %(target_status)s"), job_id=job_id,
                         status=current.value, target_status=target.value)
        self.job_id = job_id
        self.current = current
        self.target = target


def can_transition(current: JobStatus, target: JobStatus) -> bool:
    """Whether ``current -> target`` is allowed."""
    return target in TRANSITIONS[current]


def check_transition(job_id: int | None, current: JobStatus, target: JobStatus) -> None:
    """Raise unless ``current -> target`` is allowed.

    Raises:
        IllegalTransition: it is not.
    """
    if not can_transition(current, target):
        raise IllegalTransition(job_id, current, target)
