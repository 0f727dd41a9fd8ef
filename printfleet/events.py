"""Redis pub/sub channels on which printfleet's parts announce changes (transport only; the database and the
state store hold the facts)."""

from __future__ import annotations

#: a job was created or changed state; message: ``{"job_id": int | None, "status": str}``
JOBS_CHANGED_CHANNEL = "printfleet:jobs:changed"
#: a printer's state changed; message: the new state's JSON (see :mod:`printfleet.store`)
STATE_CHANGED_CHANNEL = "printfleet:printer:state_changed"
