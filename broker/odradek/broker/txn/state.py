"""The transaction state machine as a table (Kafka's TransactionState and its VALID_PREVIOUS_STATES).

Each state has Kafka's id (the int8 `TransactionStatus` of `__transaction_state` values) and name (what
DescribeTransactions and ListTransactions answer). `TRANSITIONS[target]` is the set of states a transaction may
move to `target` from; `can_transition(source, target)` reads it. PrepareAbort is also reachable from Empty and
the Complete states (an abort that bumps the epoch, transactions version 2), as in Kafka's table.

PrepareEpochFence is never written to the log: it is the in-memory step of fencing an ongoing transaction
(InitProducerId or a timeout), immediately followed by a PrepareAbort at the bumped epoch.
"""

from __future__ import annotations

import enum


class TransactionState(enum.Enum):
    EMPTY = (0, "Empty")
    ONGOING = (1, "Ongoing")
    PREPARE_COMMIT = (2, "PrepareCommit")
    PREPARE_ABORT = (3, "PrepareAbort")
    COMPLETE_COMMIT = (4, "CompleteCommit")
    COMPLETE_ABORT = (5, "CompleteAbort")
    DEAD = (6, "Dead")
    PREPARE_EPOCH_FENCE = (7, "PrepareEpochFence")

    @property
    def id(self) -> int:
        return self.value[0]

    @property
    def state_name(self) -> str:
        return self.value[1]

    @classmethod
    def from_id(cls, state_id: int) -> TransactionState:
        for state in cls:
            if state.id == state_id:
                return state
        raise ValueError(f"unknown transaction state id {state_id}")

    @classmethod
    def from_name(cls, name: str) -> TransactionState | None:
        return next((state for state in cls if state.state_name == name), None)


S = TransactionState

TRANSITIONS: dict[TransactionState, frozenset[TransactionState]] = {
    S.EMPTY: frozenset({S.EMPTY, S.COMPLETE_COMMIT, S.COMPLETE_ABORT}),
    S.ONGOING: frozenset({S.ONGOING, S.EMPTY, S.COMPLETE_COMMIT, S.COMPLETE_ABORT}),
    S.PREPARE_COMMIT: frozenset({S.ONGOING}),
    S.PREPARE_ABORT: frozenset({S.ONGOING, S.PREPARE_EPOCH_FENCE, S.EMPTY, S.COMPLETE_COMMIT, S.COMPLETE_ABORT}),
    S.COMPLETE_COMMIT: frozenset({S.PREPARE_COMMIT}),
    S.COMPLETE_ABORT: frozenset({S.PREPARE_ABORT}),
    S.DEAD: frozenset({S.EMPTY, S.COMPLETE_ABORT, S.COMPLETE_COMMIT}),
    S.PREPARE_EPOCH_FENCE: frozenset({S.ONGOING}),
}
"""target state -> the states it may be entered from."""

# States whose transactional id may expire (transactional.id.expiration.ms): nothing is in flight.
EXPIRATION_ALLOWED = frozenset({S.EMPTY, S.COMPLETE_COMMIT, S.COMPLETE_ABORT})


def can_transition(source: TransactionState, target: TransactionState) -> bool:
    return source in TRANSITIONS[target]
