"""The incremental cooperative assignor as tables: what members run before, what each is given / must revoke."""

from __future__ import annotations

from odradek.connect.distributed.assignor import (
    Allocation,
    AssignorState,
    eager_assignment,
    incremental_assignment,
)
from odradek.connect.runtime.states import ConnectorTaskId

DELAY = 1000


def t(name: str, n: int) -> ConnectorTaskId:
    return ConnectorTaskId(name, n)


def alloc(connectors: str = "", tasks: tuple[ConnectorTaskId, ...] = ()) -> Allocation:
    return Allocation(frozenset(c for c in connectors.split(",") if c), frozenset(tasks))


TASKS = [t("c", i) for i in range(6)]


def run(current: dict[str, Allocation], state: AssignorState | None = None, now: int = 0, tasks=TASKS):  # type: ignore[no-untyped-def]
    return incremental_assignment(current, ["c"], tasks, state or AssignorState(), now, DELAY)


def full(result, current):  # type: ignore[no-untyped-def]
    """What each member runs after applying its assignment."""
    out = {}
    for m, a in result.assignments.items():
        out[m] = (
            (current[m].connectors - set(a.revoked_connectors)) | set(a.connectors),
            (current[m].tasks - set(a.revoked_tasks)) | set(a.tasks),
        )
    return out


def test_first_rebalance_spreads_everything_evenly() -> None:
    current = {"a": alloc(), "b": alloc(), "c": alloc()}
    result = run(current)
    after = full(result, current)
    assert [len(after[m][1]) for m in "abc"] == [2, 2, 2]
    assert sum(len(after[m][0]) for m in "abc") == 1
    assert result.delay == 0


def test_deleted_and_duplicated_items_are_revoked() -> None:
    current = {"a": alloc("c,gone", (t("c", 0), t("gone", 0))), "b": alloc("", (t("c", 0),))}
    result = run(current, tasks=[t("c", 0)])
    assert result.assignments["a"].revoked_connectors == ("gone",)
    assert set(result.assignments["a"].revoked_tasks) == {t("gone", 0), t("c", 0)}
    assert result.assignments["b"].revoked_tasks == (t("c", 0),)


def test_lost_tasks_wait_for_the_delay_then_move_to_the_survivors() -> None:
    start = {"a": alloc(), "b": alloc(), "c": alloc()}
    first = run(start)
    running = {m: Allocation(frozenset(c), frozenset(ts)) for m, (c, ts) in full(first, start).items()}
    lost = running.pop("c")
    # c is gone: its items are lost, nothing moves yet, a rebalance is scheduled DELAY ms later.
    second = run(running, first.state, now=100)
    assert second.delay == DELAY
    assert all(not a.tasks and not a.connectors for a in second.assignments.values())
    # Before the deadline: still waiting, with the time left.
    third = run(running, second.state, now=600)
    assert third.delay == 500 and all(not a.tasks for a in third.assignments.values())
    # At the deadline: the lost items go to the survivors, balanced.
    fourth = run(running, third.state, now=1100)
    given = [x for a in fourth.assignments.values() for x in a.tasks]
    assert sorted(given) == sorted(lost.tasks)
    after = full(fourth, running)
    assert sorted(len(after[m][1]) for m in "ab") == [3, 3]
    assert fourth.delay == 0 and fourth.state.scheduled_at == 0


def test_a_worker_joining_during_the_delay_is_the_candidate_for_lost_items() -> None:
    start = {"a": alloc(), "b": alloc()}
    first = run(start)
    running = {m: Allocation(frozenset(c), frozenset(ts)) for m, (c, ts) in full(first, start).items()}
    lost = running.pop("b")
    second = run(running, first.state, now=0)
    running["new"] = alloc()
    third = run(running, second.state, now=200)
    assert third.delay == DELAY - 200
    fourth = run(running, third.state, now=DELAY + 1)
    assert set(fourth.assignments["new"].tasks) == set(lost.tasks)
    assert set(fourth.assignments["new"].connectors) == set(lost.connectors)
    assert not fourth.assignments["a"].tasks


def test_a_new_worker_gets_its_share_through_revocation_then_assignment() -> None:
    running = {"a": alloc("c", tuple(TASKS[:3])), "b": alloc("", tuple(TASKS[3:])), "n": alloc()}
    state = AssignorState(previous={"a": running["a"], "b": running["b"]})
    first = run(running, state)
    revoked = [x for m in "ab" for x in first.assignments[m].revoked_tasks]
    assert len(revoked) == 2 and not first.assignments["n"].tasks
    assert first.state.revoked_in_previous
    after = {m: Allocation(frozenset(c), frozenset(ts)) for m, (c, ts) in full(first, running).items()}
    second = run(after, first.state)
    assert set(second.assignments["n"].tasks) == set(revoked)
    assert not any(a.revoked_tasks for a in second.assignments.values())
    final = full(second, after)
    assert [len(final[m][1]) for m in ("a", "b", "n")] == [2, 2, 2]


def test_balanced_group_is_left_alone() -> None:
    running = {"a": alloc("c", tuple(TASKS[:3])), "b": alloc("", tuple(TASKS[3:]))}
    result = run(running, AssignorState(previous=dict(running)))
    assert all(not a.tasks and not a.revoked_tasks and not a.connectors for a in result.assignments.values())


def test_zero_delay_reassigns_lost_items_at_once() -> None:
    previous = {"a": alloc("", tuple(TASKS[:3])), "b": alloc("c", tuple(TASKS[3:]))}
    result = incremental_assignment({"a": previous["a"]}, ["c"], TASKS, AssignorState(previous), 0, 0)
    assert set(result.assignments["a"].tasks) == set(TASKS[3:]) and result.assignments["a"].connectors == ("c",)


def test_eager_is_round_robin() -> None:
    out = eager_assignment(["b", "a"], ["x", "y", "z"], [t("x", 0), t("x", 1)])
    assert out["a"].connectors == ("x", "z") and out["b"].connectors == ("y",)
    assert out["a"].tasks == (t("x", 0),) and out["b"].tasks == (t("x", 1),)
