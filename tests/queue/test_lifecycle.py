"""The job state machine."""

from __future__ import annotations

import itertools

import pytest

from printfleet.errors import UserError
from printfleet.models import JobStatus as S
from printfleet.queue.lifecycle import ENDED, ON_PRINTER, TRANSITIONS, IllegalTransition, check_transition


def test_the_happy_path_is_allowed() -> None:
    path = [S.UPLOADED, S.QUEUED, S.ASSIGNED, S.SLICING, S.UPLOADING, S.PRINTING, S.PAUSED, S.PRINTING, S.DONE, S.COLLECTED]
    for current, target in itertools.pairwise(path):
        check_transition(1, current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [(S.QUEUED, S.PRINTING), (S.DONE, S.QUEUED), (S.COLLECTED, S.QUEUED), (S.REJECTED, S.QUEUED), (S.PRINTING, S.QUEUED),
     (S.PAUSED, S.DONE), (S.UPLOADED, S.DONE)],
)  # fmt: skip
def test_illegal_transitions_are_refused_in_words(current: S, target: S) -> None:
    with pytest.raises(IllegalTransition) as err:
        check_transition(7, current, target)
    assert isinstance(err.value, UserError)
    assert str(err.value) == f"job 7 is {current.value} and cannot become {target.value}"
    assert err.value.code == "illegal_transition" and err.value.http_status == 409


def test_every_state_is_in_the_table_and_final_states_are_final() -> None:
    assert set(TRANSITIONS) == set(S)
    assert TRANSITIONS[S.COLLECTED] == frozenset() and TRANSITIONS[S.REJECTED] == frozenset()
    assert not ON_PRINTER & ENDED
    # a job on a printer can always be cancelled or failed, so nothing is ever stuck there
    for state in ON_PRINTER:
        assert {S.CANCELLED, S.FAILED} <= TRANSITIONS[state]
