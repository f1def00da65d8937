"""The classic group state machine, as data: Kafka's five states and the transitions it allows.

```
Empty ──join──▶ PreparingRebalance ──all joined / timeout──▶ CompletingRebalance ──leader's SyncGroup──▶ Stable
  ▲                 │    ▲   ▲                                        │                                    │
  └─ no members ────┘    │   └──── member joins, leaves or fails ─────┘                                    │
                         └────────────────────── member joins, leaves, fails or changes protocols ──────────┘
Dead: group deleted, expired, or its __consumer_offsets partition moved away (reachable from every state).
```

`VALID_PREVIOUS_STATES` is Kafka's `validPreviousStates` table (core `GroupMetadata.scala`); every transition the
coordinator makes goes through `check_transition`, so an impossible one is a bug that shows up at once.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class GroupState(enum.Enum):
    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


S = GroupState

VALID_PREVIOUS_STATES: Mapping[GroupState, frozenset[GroupState]] = {
    S.EMPTY: frozenset({S.PREPARING_REBALANCE}),
    S.PREPARING_REBALANCE: frozenset({S.STABLE, S.COMPLETING_REBALANCE, S.EMPTY}),
    S.COMPLETING_REBALANCE: frozenset({S.PREPARING_REBALANCE}),
    S.STABLE: frozenset({S.COMPLETING_REBALANCE}),
    S.DEAD: frozenset({S.STABLE, S.PREPARING_REBALANCE, S.COMPLETING_REBALANCE, S.EMPTY, S.DEAD}),
}

# ListGroups' states filter is case-insensitive in Kafka (it parses with GroupState.parse).
STATE_BY_NAME: Mapping[str, GroupState] = {state.value.lower(): state for state in GroupState}


class IllegalStateTransition(RuntimeError):
    pass


def check_transition(group_id: str, current: GroupState, target: GroupState) -> None:
    if current not in VALID_PREVIOUS_STATES[target]:
        raise IllegalStateTransition(
            f"group {group_id} should be in {sorted(s.value for s in VALID_PREVIOUS_STATES[target])} "
            f"to move to {target.value}, but it is {current.value}"
        )
