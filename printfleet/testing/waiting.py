"""Waiting for a printer state in tests and benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable

from printfleet.state import PrinterState


def wait_for_state(
    get: Callable[[], PrinterState | None], predicate: Callable[[PrinterState], bool], timeout_s: float = 10.0
) -> PrinterState:
    """Poll ``get`` until it returns a state that satisfies ``predicate``.

    Raises:
        AssertionError: none did within ``timeout_s`` (the message shows the last state).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        state = get()
        if state is not None and predicate(state):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; last state {state}")
        time.sleep(0.05)
