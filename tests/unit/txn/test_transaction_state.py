"""The transaction state table against every (source, target) pair of Kafka's TransactionState
VALID_PREVIOUS_STATES, and the state ids and names of __transaction_state and DescribeTransactions."""

from __future__ import annotations

import itertools

from odradek.broker.txn.state import TRANSITIONS, TransactionState, can_transition

S = TransactionState

# Kafka's TransactionState.VALID_PREVIOUS_STATES (transaction-coordinator module), written out independently.
KAFKA_VALID_PREVIOUS = {
    "Empty": {"Empty", "CompleteCommit", "CompleteAbort"},
    "Ongoing": {"Ongoing", "Empty", "CompleteCommit", "CompleteAbort"},
    "PrepareCommit": {"Ongoing"},
    "PrepareAbort": {"Ongoing", "PrepareEpochFence", "Empty", "CompleteCommit", "CompleteAbort"},
    "CompleteCommit": {"PrepareCommit"},
    "CompleteAbort": {"PrepareAbort"},
    "Dead": {"Empty", "CompleteAbort", "CompleteCommit"},
    "PrepareEpochFence": {"Ongoing"},
}


def test_every_pair_of_states_follows_kafkas_table() -> None:
    for source, target in itertools.product(S, S):
        expected = source.state_name in KAFKA_VALID_PREVIOUS[target.state_name]
        assert can_transition(source, target) is expected, (source, target)
    assert set(TRANSITIONS) == set(S)


def test_state_ids_and_names_are_kafkas() -> None:
    ids = {state.state_name: state.id for state in S}
    assert ids == {
        "Empty": 0,
        "Ongoing": 1,
        "PrepareCommit": 2,
        "PrepareAbort": 3,
        "CompleteCommit": 4,
        "CompleteAbort": 5,
        "Dead": 6,
        "PrepareEpochFence": 7,
    }
    assert all(S.from_id(state.id) is state and S.from_name(state.state_name) is state for state in S)
    assert S.from_name("Unknown") is None
