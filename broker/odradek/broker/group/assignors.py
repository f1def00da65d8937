"""Server-side assignors of KIP-848 consumer groups (Kafka's UniformAssignor and RangeAssignor), chosen per group
by `group.remote.assignor` (the members' `ServerAssignor`) among `group.consumer.assignors` (the first is the
default).

An assignor gets every member's subscribed topic ids and current target assignment, and the partition count of
every subscribed topic (`topics`: topic id -> partitions), and returns each member's new target. Invariants of
both: every partition of a subscribed topic goes to exactly one member subscribed to it; deterministic (member ids
and topic ids are sorted).

- `uniform`: balanced over the whole group (member partition counts differ by at most one when every member has
  the same subscription, Kafka's homogeneous case) and sticky: a member keeps what it had while that keeps it
  within its share. With different subscriptions (Kafka's heterogeneous case) partitions go to the least loaded
  subscribed member, then are moved from the most to the least loaded eligible member until no move helps; Kafka's
  heterogeneous builder balances the same way with more refined tie-breaking.
- `range`: per topic, the members subscribed to it sorted by member id each get a contiguous range of
  `partitions // members` partitions, the first `partitions % members` one more (co-partitioned topics land on the
  same member); sticky where the member's range keeps the partition (Kafka's range keeps a member's partitions
  while within its quota; here the range is recomputed, so a join shifts ranges as the classic range assignor does).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from odradek.broker.group.consumer_group import Assignment, normalize


@dataclass(frozen=True, slots=True)
class MemberSubscription:
    member_id: str
    topics: frozenset[str]  # topic ids
    current: Assignment


Assignor = Callable[[Sequence[MemberSubscription], Mapping[str, int]], dict[str, Assignment]]


def uniform(members: Sequence[MemberSubscription], topics: Mapping[str, int]) -> dict[str, Assignment]:
    members = sorted(members, key=lambda m: m.member_id)
    if not members:
        return {}
    eligible = {
        (topic, p): [m.member_id for m in members if topic in m.topics]
        for topic in sorted(topics)
        for p in range(topics[topic])
    }
    eligible = {tp: ms for tp, ms in eligible.items() if ms}
    result: dict[str, set[tuple[str, int]]] = {m.member_id: set() for m in members}
    homogeneous = len({m.topics for m in members}) == 1
    total = len(eligible)
    # Sticky first: a member keeps its current partitions that are still its to take, up to its share.
    quota = {m.member_id: -(-total // len(members)) for m in members} if homogeneous else None
    taken: set[tuple[str, int]] = set()
    for m in members:
        mine = sorted(
            (t, p) for t, parts in m.current.items() for p in parts if m.member_id in eligible.get((t, p), ())
        )
        for tp in mine:
            if tp in taken or (quota is not None and len(result[m.member_id]) >= quota[m.member_id]):
                continue
            result[m.member_id].add(tp)
            taken.add(tp)
    for tp in sorted(eligible):
        if tp not in taken:
            owner = min(eligible[tp], key=lambda mid: (len(result[mid]), mid))
            result[owner].add(tp)
    _balance(result, eligible)
    return {mid: normalize(_by_topic(tps)) for mid, tps in result.items()}


def _balance(result: dict[str, set[tuple[str, int]]], eligible: Mapping[tuple[str, int], list[str]]) -> None:
    """Move partitions from the most to the least loaded member able to take them while that narrows the gap."""
    for _ in range(sum(len(v) for v in result.values()) + 1):  # each move strictly lowers the spread: bounded
        moved = False
        for donor in sorted(result, key=lambda mid: (-len(result[mid]), mid)):
            for tp in sorted(result[donor]):
                takers = [mid for mid in eligible[tp] if len(result[mid]) + 1 < len(result[donor])]
                if takers:
                    taker = min(takers, key=lambda mid: (len(result[mid]), mid))
                    result[donor].discard(tp)
                    result[taker].add(tp)
                    moved = True
                    break
            if moved:
                break
        if not moved:
            return


def range_(members: Sequence[MemberSubscription], topics: Mapping[str, int]) -> dict[str, Assignment]:
    result: dict[str, dict[str, set[int]]] = {m.member_id: {} for m in members}
    for topic in sorted(topics):
        subscribed = sorted(m.member_id for m in members if topic in m.topics)
        if not subscribed:
            continue
        n = topics[topic]
        per, extra = divmod(n, len(subscribed))
        start = 0
        for i, mid in enumerate(subscribed):
            count = per + (1 if i < extra else 0)
            if count:
                result[mid][topic] = set(range(start, start + count))
            start += count
    return {mid: normalize(parts) for mid, parts in result.items()}


def _by_topic(tps: set[tuple[str, int]]) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for topic, p in tps:
        out.setdefault(topic, set()).add(p)
    return out


ASSIGNORS: Mapping[str, Assignor] = {"uniform": uniform, "range": range_}
"""Every server assignor this broker has, by the name clients give in `group.remote.assignor`."""
