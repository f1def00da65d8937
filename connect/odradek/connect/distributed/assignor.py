"""The leader's assignment of connectors and tasks to workers, as pure functions (Kafka's
IncrementalCooperativeAssignor and, for `connect.protocol=eager`, EagerAssignor).

Incremental cooperative rule, one call per rebalance (`incremental_assignment`):
1. Every member reports what it runs now (its JoinGroup metadata). Items no longer configured are revoked from
   whoever runs them; an item run by more than one member is revoked from all of them.
2. Lost items: in the leader's previous allocation, still configured, run by nobody now (their worker left or
   crashed). The first time they are seen, a rebalance is scheduled `scheduled.rebalance.max.delay.ms` later and they
   stay unassigned, so a worker that comes back quickly gets them without churn; members that joined empty in the
   meantime are remembered as candidates. When the delay has expired they are assigned: to the candidates still
   present, or else to everyone. With a delay of 0 they are assigned at once.
3. New items (configured, run by nobody, not lost) go to the least-loaded members, connectors and tasks balanced
   separately (ties by member id).
4. Balancing: if after that the loads of two members differ by more than one, the excess of the members above the
   ceiling of the average is revoked (the highest ids first); the next rebalance, which the revoked members trigger
   by rejoining, hands those items to the light members. Revocations for balance never happen in two rebalances in
   a row (Kafka's `revokedInPrevious`), so the group converges.
A member's result carries only the items newly assigned to it and the ones it must revoke (what it keeps is
implied); `delay` is the time left before the scheduled rebalance. The state threaded from call to call is the
full allocation computed, the schedule and the candidates (`AssignorState`).

Eager (`eager_assignment`): everybody stopped everything before joining; all configured items are handed out
afresh, round robin, no delay.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from odradek.connect.runtime.states import ConnectorTaskId

T = TypeVar("T")


def _key(item: Any) -> Any:
    return (item.connector, item.task) if isinstance(item, ConnectorTaskId) else (item, -1)


@dataclass(frozen=True, slots=True)
class Allocation:
    connectors: frozenset[str] = frozenset()
    tasks: frozenset[ConnectorTaskId] = frozenset()

    def is_empty(self) -> bool:
        return not self.connectors and not self.tasks


@dataclass(frozen=True, slots=True)
class MemberAssignment:
    connectors: tuple[str, ...] = ()
    tasks: tuple[ConnectorTaskId, ...] = ()
    revoked_connectors: tuple[str, ...] = ()
    revoked_tasks: tuple[ConnectorTaskId, ...] = ()


@dataclass(frozen=True, slots=True)
class AssignorState:
    previous: Mapping[str, Allocation] = field(default_factory=dict)
    scheduled_at: int = 0  # ms; 0: no rebalance scheduled
    candidates: frozenset[str] = frozenset()
    revoked_in_previous: bool = False


@dataclass(frozen=True, slots=True)
class AssignmentResult:
    assignments: Mapping[str, MemberAssignment]
    delay: int
    state: AssignorState


def _holders(current: Mapping[str, frozenset[T]]) -> dict[T, list[str]]:
    out: dict[T, list[str]] = {}
    for member in sorted(current):
        for item in current[member]:
            out.setdefault(item, []).append(member)
    return out


def _spread(items: Iterable[T], loads: dict[str, set[T]], among: Sequence[str]) -> dict[str, list[T]]:
    """Give each item (in sorted order) to the least-loaded member of `among`; `loads` is updated."""
    given: dict[str, list[T]] = {m: [] for m in among}
    if not among:
        return given
    for item in sorted(items, key=_key):
        member = min(among, key=lambda m: (len(loads[m]), m))
        loads[member].add(item)
        given[member].append(item)
    return given


def _balance_revocations(loads: dict[str, set[T]]) -> dict[str, list[T]]:
    if len(loads) < 2:
        return {}
    sizes = [len(v) for v in loads.values()]
    if max(sizes) - min(sizes) <= 1:
        return {}
    ceiling = math.ceil(sum(sizes) / len(loads))
    out: dict[str, list[T]] = {}
    for member, items in loads.items():
        excess = len(items) - ceiling
        if excess > 0:
            out[member] = sorted(items, key=_key, reverse=True)[:excess]
    return out


def _stale(current: Mapping[str, frozenset[T]], configured: frozenset[T]) -> dict[str, set[T]]:
    """Per member, the items to revoke: no longer configured, or run by more than one member."""
    out: dict[str, set[T]] = {m: set() for m in current}
    for item, holders in _holders(current).items():
        if item not in configured or len(holders) > 1:
            for m in holders:
                out[m].add(item)
    return out


def _balance(loads: dict[str, set[T]], given: dict[str, list[T]], revoked: dict[str, set[T]]) -> bool:
    """Apply the balancing revocations to one kind of item; an item just given is simply not given."""
    changed = False
    for m, items in _balance_revocations(loads).items():
        for item in items:
            loads[m].discard(item)
            if item in given[m]:
                given[m].remove(item)
            else:
                revoked[m].add(item)
            changed = True
    return changed


def incremental_assignment(
    current: Mapping[str, Allocation],
    connectors: Iterable[str],
    tasks: Iterable[ConnectorTaskId],
    state: AssignorState,
    now_ms: int,
    max_delay_ms: int,
) -> AssignmentResult:
    """One incremental cooperative rebalance (see the module docstring); `current` maps member id to what it runs."""
    members = sorted(current)
    configured_c, configured_t = frozenset(connectors), frozenset(tasks)
    cur_c = {m: current[m].connectors for m in members}
    cur_t = {m: current[m].tasks for m in members}
    revoked_c = _stale(cur_c, configured_c)
    revoked_t = _stale(cur_t, configured_t)
    held_c = set().union(*cur_c.values()) if members else set()
    held_t = set().union(*cur_t.values()) if members else set()
    prev_c = set().union(*(a.connectors for a in state.previous.values())) if state.previous else set()
    prev_t = set().union(*(a.tasks for a in state.previous.values())) if state.previous else set()
    lost_c = (prev_c & configured_c) - held_c
    lost_t = (prev_t & configured_t) - held_t

    scheduled_at, candidates, delay = state.scheduled_at, state.candidates, 0
    assign_lost = False
    if lost_c or lost_t:
        new_members = frozenset(m for m in members if m not in state.previous and current[m].is_empty())
        if max_delay_ms <= 0 or (scheduled_at and now_ms >= scheduled_at):
            assign_lost, scheduled_at = True, 0
        elif not scheduled_at:
            scheduled_at, candidates, delay = now_ms + max_delay_ms, new_members, max_delay_ms
        else:
            candidates, delay = candidates | new_members, scheduled_at - now_ms
    else:
        scheduled_at, candidates = 0, frozenset()

    loads_c = {m: set(cur_c[m]) - revoked_c[m] for m in members}
    loads_t = {m: set(cur_t[m]) - revoked_t[m] for m in members}
    given_c: dict[str, list[str]] = {m: [] for m in members}
    given_t: dict[str, list[ConnectorTaskId]] = {m: [] for m in members}
    if assign_lost:
        targets = [m for m in members if m in candidates] or members
        for m, items_c in _spread(lost_c, loads_c, targets).items():
            given_c[m] += items_c
        for m, items_t in _spread(lost_t, loads_t, targets).items():
            given_t[m] += items_t
        candidates = frozenset()
    waiting = not assign_lost and bool(lost_c or lost_t)
    for m, items_c in _spread(configured_c - held_c - lost_c, loads_c, members).items():
        given_c[m] += items_c
    for m, items_t in _spread(configured_t - held_t - lost_t, loads_t, members).items():
        given_t[m] += items_t

    balanced = False
    if not state.revoked_in_previous and not waiting:
        balanced = _balance(loads_c, given_c, revoked_c) | _balance(loads_t, given_t, revoked_t)
    previous = {m: Allocation(frozenset(loads_c[m]), frozenset(loads_t[m])) for m in members}
    if waiting:  # keep the lost items on the departed members' books, so they are still lost next time
        for m, a in state.previous.items():
            if m not in previous and (a.connectors & lost_c or a.tasks & lost_t):
                previous[m] = Allocation(a.connectors & lost_c, a.tasks & lost_t)
    assignments = {
        m: MemberAssignment(
            tuple(sorted(given_c[m])),
            tuple(sorted(given_t[m])),
            tuple(sorted(revoked_c[m])),
            tuple(sorted(revoked_t[m])),
        )
        for m in members
    }
    return AssignmentResult(assignments, delay, AssignorState(previous, scheduled_at, candidates, balanced))


def eager_assignment(
    members: Iterable[str], connectors: Iterable[str], tasks: Iterable[ConnectorTaskId]
) -> dict[str, MemberAssignment]:
    """Every configured item, round robin over the members sorted by id (Kafka's EagerAssignor)."""
    ordered = sorted(members)
    out_c: dict[str, list[str]] = {m: [] for m in ordered}
    out_t: dict[str, list[ConnectorTaskId]] = {m: [] for m in ordered}
    if ordered:
        for i, name in enumerate(sorted(connectors)):
            out_c[ordered[i % len(ordered)]].append(name)
        for i, task in enumerate(sorted(tasks)):
            out_t[ordered[i % len(ordered)]].append(task)
    return {m: MemberAssignment(tuple(out_c[m]), tuple(out_t[m])) for m in ordered}
