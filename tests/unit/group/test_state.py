"""The group state machine table: the transitions it allows are exactly Kafka's `validPreviousStates`, every
(state, event) pair outside the table raises, and the table prints."""

from __future__ import annotations

import itertools

import pytest
from odradek.broker.group.state import (
    TRANSITIONS,
    VALID_PREVIOUS_STATES,
    GroupEvent,
    GroupState,
    IllegalStateTransition,
    format_transitions,
    next_state,
)

S = GroupState
E = GroupEvent
# Kafka's GroupMetadata.scala validPreviousStates, as (from, to) pairs.
ALLOWED = {
    (S.PREPARING_REBALANCE, S.EMPTY),
    (S.EMPTY, S.PREPARING_REBALANCE),
    (S.STABLE, S.PREPARING_REBALANCE),
    (S.COMPLETING_REBALANCE, S.PREPARING_REBALANCE),
    (S.PREPARING_REBALANCE, S.COMPLETING_REBALANCE),
    (S.COMPLETING_REBALANCE, S.STABLE),
    *((state, S.DEAD) for state in GroupState),
}


def test_the_table_allows_exactly_kafkas_transitions() -> None:
    assert {(source, target) for (source, _), target in TRANSITIONS.items()} == ALLOWED
    for target in GroupState:
        assert VALID_PREVIOUS_STATES[target] == {source for source, to in ALLOWED if to is target}


@pytest.mark.parametrize(("state", "event"), list(itertools.product(GroupState, GroupEvent)))
def test_every_state_and_event(state: GroupState, event: GroupEvent) -> None:
    if (state, event) in TRANSITIONS:
        assert next_state("g", state, event) is TRANSITIONS[state, event]
    else:
        with pytest.raises(IllegalStateTransition, match=event.name):
            next_state("g", state, event)


def test_events_move_a_group_through_a_rebalance() -> None:
    state = S.EMPTY
    path = [state]
    for event in (E.REBALANCE_STARTED, E.JOIN_COMPLETED, E.ASSIGNMENT_STORED, E.REBALANCE_STARTED):
        state = next_state("g", state, event)
        path.append(state)
    assert path == [S.EMPTY, S.PREPARING_REBALANCE, S.COMPLETING_REBALANCE, S.STABLE, S.PREPARING_REBALANCE]
    assert next_state("g", state, E.JOIN_COMPLETED_EMPTY) is S.EMPTY


def test_the_table_prints_one_line_per_transition() -> None:
    text = format_transitions()
    print(text)
    lines = text.splitlines()
    assert len(lines) == len(TRANSITIONS)
    assert any(line.split() == ["CompletingRebalance", "--ASSIGNMENT_STORED-->", "Stable"] for line in lines)
