"""The group state machine table is Kafka's: every allowed transition passes, every other one raises."""

from __future__ import annotations

import itertools

import pytest
from odradek.broker.group.state import GroupState, IllegalStateTransition, check_transition

S = GroupState
ALLOWED = {
    (S.PREPARING_REBALANCE, S.EMPTY),
    (S.EMPTY, S.PREPARING_REBALANCE),
    (S.STABLE, S.PREPARING_REBALANCE),
    (S.COMPLETING_REBALANCE, S.PREPARING_REBALANCE),
    (S.PREPARING_REBALANCE, S.COMPLETING_REBALANCE),
    (S.COMPLETING_REBALANCE, S.STABLE),
    *((state, S.DEAD) for state in GroupState),
}


@pytest.mark.parametrize(("source", "target"), list(itertools.product(GroupState, GroupState)))
def test_transition(source: GroupState, target: GroupState) -> None:
    if (source, target) in ALLOWED:
        check_transition("g", source, target)
    else:
        with pytest.raises(IllegalStateTransition):
            check_transition("g", source, target)
