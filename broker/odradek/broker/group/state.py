"""The classic group state machine, as data (h11's `_state.py` style): everything that decides which state a group
moves to lives here, as the table `TRANSITIONS` of (state, event) -> next state.

```
Empty ──join──▶ PreparingRebalance ──all joined / timeout──▶ CompletingRebalance ──leader's SyncGroup──▶ Stable
  ▲                 │    ▲   ▲                                        │                                    │
  └─ no members ────┘    │   └──── member joins, leaves or fails ─────┘                                    │
                         └────────────────────── member joins, leaves, fails or changes protocols ──────────┘
Dead: group deleted, expired, or its __consumer_offsets partition moved away (reachable from every state).
```

The events are what the coordinator observes; which event a request or timer raises is the coordinator's business,
but whether it moves the group, and where to, is only this table's. An event with no entry for the current state
is a bug (`IllegalStateTransition`). `VALID_PREVIOUS_STATES`, Kafka's `validPreviousStates` (core
`GroupMetadata.scala`), is derived from the table, and `format_transitions()` prints it.
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


class GroupEvent(enum.Enum):
    REBALANCE_STARTED = "a member joined, left, failed or changed its protocols, or a sync failed"
    JOIN_COMPLETED = "every member rejoined (or the join timed out) and members remain"
    JOIN_COMPLETED_EMPTY = "the join phase ended with no members"
    ASSIGNMENT_STORED = "the leader's assignment was written to the log"
    GROUP_REMOVED = "the group was deleted, expired or unloaded"


S = GroupState
E = GroupEvent

TRANSITIONS: Mapping[tuple[GroupState, GroupEvent], GroupState] = {
    (S.EMPTY, E.REBALANCE_STARTED): S.PREPARING_REBALANCE,
    (S.STABLE, E.REBALANCE_STARTED): S.PREPARING_REBALANCE,
    (S.COMPLETING_REBALANCE, E.REBALANCE_STARTED): S.PREPARING_REBALANCE,
    (S.PREPARING_REBALANCE, E.JOIN_COMPLETED): S.COMPLETING_REBALANCE,
    (S.PREPARING_REBALANCE, E.JOIN_COMPLETED_EMPTY): S.EMPTY,
    (S.COMPLETING_REBALANCE, E.ASSIGNMENT_STORED): S.STABLE,
    **{(state, E.GROUP_REMOVED): S.DEAD for state in GroupState},
}

VALID_PREVIOUS_STATES: Mapping[GroupState, frozenset[GroupState]] = {
    target: frozenset(source for (source, _), to in TRANSITIONS.items() if to is target) for target in GroupState
}

# ListGroups' states filter is case-insensitive in Kafka (it parses with GroupState.parse).
STATE_BY_NAME: Mapping[str, GroupState] = {state.value.lower(): state for state in GroupState}


class IllegalStateTransition(RuntimeError):
    pass


def next_state(group_id: str, current: GroupState, event: GroupEvent) -> GroupState:
    """Where `event` moves a group in `current`; IllegalStateTransition if the table has no such move."""
    target = TRANSITIONS.get((current, event))
    if target is None:
        raise IllegalStateTransition(f"group {group_id} in {current.value} cannot handle {event.name}")
    return target


def can_handle(current: GroupState, event: GroupEvent) -> bool:
    return (current, event) in TRANSITIONS


def format_transitions() -> str:
    """The table, one `state --EVENT--> state` line per entry (for docs and for reading in a test's output)."""
    width = max(len(s.value) for s in GroupState)
    return "\n".join(
        f"{source.value:<{width}} --{event.name}--> {target.value}" for (source, event), target in TRANSITIONS.items()
    )
