"""confluent-kafka (librdkafka) consumers in groups against the classic group coordinator.

Members join and leave (on_assign / on_revoke), every record processed once across rebalances with synchronous
commits, static membership (a restart within the session timeout moves nothing), cooperative-sticky incremental
rebalancing, auto commit on close, commit with the `on_commit` callback, committed offsets across a broker
SIGKILL, and a live group riding through a SIGKILL and restart without a rebalance.

All members of a test are polled in turns from the test's thread (librdkafka heartbeats in its own threads; the
rebalance callbacks run inside `poll`). Every wait is bounded by `pump`'s deadline. The module's broker has
`group.initial.rebalance.delay.ms=0`; the SIGKILL test starts its own.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from group_support import (
    GROUP_OVERRIDES,
    HEARTBEAT_INTERVAL_MS,
    MAX_POLL_INTERVAL_MS,
    SESSION_TIMEOUT_MS,
    assert_split,
    committed_offsets,
    describe_group,
    end_offsets,
    group_broker,
    produce_spread,
    stabilized_generations,
    unique_group,
)
from it_support import BrokerProcess, ck_create_topic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

WAIT_S = 20.0


@pytest.fixture(scope="module")
def gbroker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    yield from group_broker(tmp_path_factory.mktemp("groups-confluent"))


class Member:
    """One subscribed consumer: its rebalance events, current assignment and the records it processed.

    `commit_each`: commit each record synchronously right after processing it. `commit_on_revoke`: commit the
    positions of revoked partitions synchronously in on_revoke. Callbacks follow the rebalance protocol in use:
    assign/unassign (EAGER) or incremental_assign/incremental_unassign (COOPERATIVE)."""

    def __init__(
        self,
        name: str,
        broker: BrokerProcess,
        group: str,
        topic: str,
        *,
        commit_each: bool = True,
        commit_on_revoke: bool = True,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.topic = topic
        self.events: list[tuple[str, frozenset[int]]] = []
        self.assignment: set[int] = set()
        self.records: list[tuple[int, int, bytes]] = []
        self.commit_each = commit_each
        self.commit_on_revoke = commit_on_revoke
        self.closed = False
        self.errors: list[str] = []
        self.pending: dict[int, int] = {}
        self.commit_retries = 0
        # confluent-kafka's Python binding has no rd_kafka_rebalance_protocol(); the protocol follows from the
        # strategy, and librdkafka rejects incremental_assign() under EAGER and assign() under COOPERATIVE (an
        # error raised in a callback fails the test), so the callbacks' calls also prove which protocol is in use.
        self.cooperative = (extra or {}).get("partition.assignment.strategy") == "cooperative-sticky"
        self.consumer = Consumer(
            {
                "bootstrap.servers": broker.bootstrap,
                "group.id": group,
                "client.id": f"it-{name}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "enable.partition.eof": False,
                "session.timeout.ms": SESSION_TIMEOUT_MS,
                "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
                "max.poll.interval.ms": MAX_POLL_INTERVAL_MS,
                "fetch.wait.max.ms": 100,
                **(extra or {}),
            }
        )
        self.consumer.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        parts = frozenset(tp.partition for tp in partitions)
        self.events.append(("assign", parts))
        if self.cooperative:
            consumer.incremental_assign(partitions)
            self.assignment |= parts
        else:
            consumer.assign(partitions)
            self.assignment = set(parts)

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        parts = frozenset(tp.partition for tp in partitions)
        self.events.append(("revoke", parts))
        if self.commit_on_revoke:
            positions = [tp for tp in consumer.position(partitions) if tp.offset >= 0]
            # An exception raised here would surface from poll() or close() in odd shapes; keep it for the test.
            try:
                if positions:
                    results = consumer.commit(offsets=positions, asynchronous=False)
                    self.errors += [f"on_revoke commit {tp}" for tp in results if tp.error is not None]
            except KafkaException as exc:
                self.errors.append(f"on_revoke commit {positions}: {exc}")
        for p in parts:
            self.pending.pop(p, None)
        if self.cooperative:
            consumer.incremental_unassign(partitions)
            self.assignment -= parts
        else:
            consumer.unassign()
            self.assignment = set()

    def _on_lost(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self.events.append(("lost", frozenset(tp.partition for tp in partitions)))
        self._on_revoke(consumer, partitions)

    def poll_once(self, timeout: float = 0.05) -> None:
        """Poll; process (and with commit_each, commit synchronously) at most one record."""
        if self.closed:
            return
        msg = self.consumer.poll(timeout)
        if msg is not None:
            assert msg.error() is None, f"{self.name}: consumer error {msg.error()}"
            partition, offset, value = msg.partition(), msg.offset(), msg.value()
            assert partition is not None and offset is not None and value is not None
            self.records.append((partition, offset, value))
            if self.commit_each:
                self.pending[partition] = offset + 1
        if self.pending:
            self._commit_pending()

    def _commit_pending(self) -> None:
        """Commit the processed offsets not yet committed. Between the JoinGroup and SyncGroup of a rebalance the
        coordinator answers REBALANCE_IN_PROGRESS (ILLEGAL_GENERATION with an older generation), as Kafka does: a
        cooperative member keeps consuming its partitions then, so it retries on the next poll (a partition taken
        away meanwhile is committed in on_revoke)."""
        offsets = [TopicPartition(self.topic, p, o) for p, o in sorted(self.pending.items())]
        try:
            results = self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            code = exc.args[0].code()
            assert code in (KafkaError.REBALANCE_IN_PROGRESS, KafkaError.ILLEGAL_GENERATION), f"{self.name}: {exc}"
            self.commit_retries += 1
            return
        for tp in results:
            assert tp.error is None, f"{self.name}: commit: {tp}"
        self.pending.clear()

    def positions(self) -> dict[int, int]:
        tps = self.consumer.position([TopicPartition(self.topic, p) for p in sorted(self.assignment)])
        return {tp.partition: tp.offset for tp in tps}

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.consumer.close()

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]


def pump(group: list[Member], until: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    """Poll every open member in turns until `until()` holds; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() >= deadline:
            state = {m.name: (sorted(m.assignment), len(m.records), m.events) for m in group}
            raise AssertionError(f"timed out after {timeout} s waiting for {what}: {state}")
        for m in group:
            m.poll_once()


def pump_for(group: list[Member], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for m in group:
            m.poll_once()


def split(group: list[Member], partitions: int, sizes: list[int] | None = None) -> bool:
    assignments = [m.assignment for m in group]
    flat = sorted(p for a in assignments for p in a)
    if flat != list(range(partitions)) or not all(assignments):
        return False
    return sizes is None or sorted(len(a) for a in assignments) == sorted(sizes)


def values(group: list[Member]) -> list[bytes]:
    return [v for m in group for _, _, v in m.records]


def assert_no_errors(group: list[Member]) -> None:
    assert not [e for m in group for e in m.errors], {m.name: m.errors for m in group}


def close_all(group: list[Member]) -> None:
    for m in group:
        with contextlib.suppress(Exception):  # best effort in a finalizer
            m.close()


# -- join, leave, resume ---------------------------------------------------------------------------------


def test_members_join_and_leave_split_partitions_and_resume(gbroker: BrokerProcess, topic: str) -> None:
    ck_create_topic(gbroker.bootstrap, topic, partitions=6)
    sent = produce_spread(gbroker.bootstrap, topic, 60, 6)
    group = unique_group("ck-split")
    a = Member("a", gbroker, group, topic)
    everyone = [a]
    try:
        pump([a], lambda: a.assignment == set(range(6)), "a to own all 6 partitions")
        b = Member("b", gbroker, group, topic)
        everyone.append(b)
        pump([a, b], lambda: split([a, b], 6, [3, 3]), "a 3/3 split between a and b")
        assert ("revoke", frozenset(range(6))) in a.events, a.events
        c = Member("c", gbroker, group, topic)
        everyone.append(c)
        pump([a, b, c], lambda: split([a, b, c], 6, [2, 2, 2]), "a 2/2/2 split")
        pump([a, b, c], lambda: len(values([a, b, c])) >= 60, "all 60 records")
        got = values([a, b, c])
        assert sorted(got) == sorted(sent), "records lost or processed twice"

        c.close()
        pump([a, b], lambda: split([a, b], 6, [3, 3]), "a 3/3 split after c left")
        b.close()
        pump([a], lambda: a.assignment == set(range(6)), "a, the survivor, to own all 6 partitions")
        assert a.kinds() == ["assign", "revoke", "assign", "revoke", "assign", "revoke", "assign", "revoke", "assign"]
        assert stabilized_generations(gbroker, group) == [1, 2, 3, 4, 5]
        a.close()
        assert committed_offsets(gbroker.bootstrap, group, topic, 6) == dict.fromkeys(range(6), 10)

        # A new member resumes after the committed offsets: only the records produced since.
        later = produce_spread(gbroker.bootstrap, topic, 30, 6, prefix="later", start=60)
        d = Member("d", gbroker, group, topic)
        everyone.append(d)
        pump([d], lambda: len(d.records) >= 30, "d to read the 30 new records")
        pump_for([d], 0.5)
        assert sorted(v for _, _, v in d.records) == sorted(later)
        assert {(p, o) for p, o, _ in d.records} == {(p, o) for p in range(6) for o in range(10, 15)}
        assert_no_errors(everyone)
    finally:
        close_all(everyone)


# -- exactly once across rebalances ----------------------------------------------------------------------


def test_every_record_processed_once_across_rebalances_with_sync_commits(gbroker: BrokerProcess, topic: str) -> None:
    """Each record is committed synchronously right after it is processed, and revoked partitions' positions in
    on_revoke, so a partition changing hands never replays or skips a record."""
    n = 300
    ck_create_topic(gbroker.bootstrap, topic, partitions=6)
    sent = produce_spread(gbroker.bootstrap, topic, n, 6)
    group = unique_group("ck-once")
    a = Member("a", gbroker, group, topic)
    everyone = [a]
    try:
        pump([a], lambda: len(a.records) >= 60, "a to process 60 records")
        b = Member("b", gbroker, group, topic)
        everyone.append(b)
        pump([a, b], lambda: split([a, b], 6) and len(b.records) > 0, "b to join and process records")
        a_before = len(a.records)
        pump([a, b], lambda: len(values([a, b])) >= 200, "200 records between a and b")
        b.close()
        pump([a], lambda: len(values([a, b])) >= n, f"all {n} records")
        pump_for([a], 0.5)
        got = values([a, b])
        duplicates = sorted({v for v in got if got.count(v) > 1})
        assert not duplicates, f"processed twice: {duplicates[:20]}"
        assert sorted(got) == sorted(sent)
        assert a.kinds().count("revoke") == 2 and len(a.records) > a_before, a.events  # b joined and left mid-stream
        assert a.assignment == set(range(6))
        assert committed_offsets(gbroker.bootstrap, group, topic, 6) == end_offsets(gbroker.bootstrap, topic, 6)
        assert_no_errors(everyone)
    finally:
        close_all(everyone)


# -- static membership -----------------------------------------------------------------------------------


def test_static_member_restart_gets_same_partitions_without_rebalance(gbroker: BrokerProcess, topic: str) -> None:
    """librdkafka's static members send no LeaveGroup on close; the restarted one (same group.instance.id, new
    member id) gets its partitions back from the coordinator without a rebalance."""
    ck_create_topic(gbroker.bootstrap, topic, partitions=4)
    sent = produce_spread(gbroker.bootstrap, topic, 40, 4)
    group = unique_group("ck-static")

    def static(name: str) -> Member:
        return Member(name, gbroker, group, topic, extra={"group.instance.id": f"{group}-{name}"})

    a, b = static("a"), static("b")
    everyone = [a, b]
    try:
        pump([a, b], lambda: split([a, b], 4, [2, 2]), "a 2/2 split")
        pump([a, b], lambda: len(values([a, b])) >= 40, "the 40 records")
        assert sorted(values([a, b])) == sorted(sent)
        generations = stabilized_generations(gbroker, group)
        b_events, b_member_id, a_member_id = list(b.events), b.consumer.memberid(), a.consumer.memberid()
        b_seen = len(b.records)
        a_partitions = set(a.assignment)
        before = {m.group_instance_id: m.member_id for m in describe_group(gbroker, group).members}
        assert before == {f"{group}-a": a_member_id, f"{group}-b": b_member_id}

        a.close()
        later = produce_spread(gbroker.bootstrap, topic, 20, 4, prefix="later", start=40)
        a2 = static("a")
        everyone.append(a2)
        pump([a2, b], lambda: a2.assignment == a_partitions, "the restarted a to get its partitions back")

        def since_restart() -> list[bytes]:
            return [v for _, _, v in a2.records + b.records[b_seen:]]

        pump([a2, b], lambda: len(since_restart()) >= 20, "the 20 new records")
        pump_for([a2, b], 1.5)  # several heartbeats: a rebalance would show up here

        assert sorted(since_restart()) == sorted(later), "the restarted member did not resume at its commits"
        assert {p for p, _, _ in a2.records} == a_partitions
        assert b.events == b_events, "the other member saw a rebalance"
        assert b.consumer.memberid() == b_member_id
        assert stabilized_generations(gbroker, group) == generations
        assert f"member {a_member_id} is leaving" not in gbroker.output()
        described = describe_group(gbroker, group)
        after = {m.group_instance_id: m.member_id for m in described.members}
        assert described.group_state == "Stable"
        assert after[f"{group}-b"] == b_member_id
        assert after[f"{group}-a"] == a2.consumer.memberid() != a_member_id
        assert_no_errors(everyone)
    finally:
        close_all(everyone)


# -- cooperative-sticky ----------------------------------------------------------------------------------


def test_cooperative_sticky_moves_only_some_partitions(gbroker: BrokerProcess, topic: str) -> None:
    ck_create_topic(gbroker.bootstrap, topic, partitions=6)
    sent = produce_spread(gbroker.bootstrap, topic, 120, 6)
    group = unique_group("ck-coop")
    extra = {"partition.assignment.strategy": "cooperative-sticky"}
    a = Member("a", gbroker, group, topic, extra=extra)
    everyone = [a]
    try:
        pump([a], lambda: a.assignment == set(range(6)), "a to own all 6 partitions")
        pump([a], lambda: len(a.records) >= 30, "a to process 30 records")
        b = Member("b", gbroker, group, topic, extra=extra)
        everyone.append(b)
        pump([a, b], lambda: split([a, b], 6, [3, 3]), "a 3/3 split")
        pump([a, b], lambda: len(values([a, b])) >= 120, "all 120 records")
        pump_for([a, b], 0.5)

        revoked = {p for kind, parts in a.events if kind == "revoke" for p in parts}
        assigned_later = {p for kind, parts in a.events[1:] if kind == "assign" for p in parts}
        assert a.events[0] == ("assign", frozenset(range(6)))
        assert revoked == b.assignment, f"a gave up more than b took: {a.events}"
        assert not assigned_later, f"a got partitions back: {a.events}"
        assert a.assignment == set(range(6)) - revoked
        assert "lost" not in a.kinds() + b.kinds()
        got = values([a, b])
        assert sorted(got) == sorted(sent), "records lost or processed twice"
        assert_split([a.assignment, b.assignment], 6)
        assert_no_errors(everyone)
    finally:
        close_all(everyone)


# -- commits ---------------------------------------------------------------------------------------------


def test_auto_commit_commits_positions_on_close(gbroker: BrokerProcess, topic: str) -> None:
    """enable.auto.commit with a 100 ms interval: after close, the committed offsets are the positions (the
    offset after the last record each member got), in the middle of the partitions."""
    ck_create_topic(gbroker.bootstrap, topic, partitions=4)
    group = unique_group("ck-auto")
    extra = {"enable.auto.commit": True, "auto.commit.interval.ms": 100}
    a, b = (Member(n, gbroker, group, topic, commit_each=False, commit_on_revoke=False, extra=extra) for n in "ab")
    everyone = [a, b]
    try:
        pump([a, b], lambda: split([a, b], 4, [2, 2]), "a 2/2 split")
        produce_spread(gbroker.bootstrap, topic, 80, 4)  # after the split: each member reads only its partitions
        pump([a, b], lambda: len(a.records) >= 15 and len(b.records) >= 15, "15 records each")
        positions = {**a.positions(), **b.positions()}
        records = a.records + b.records
        consumed = {p: max(o for q, o, _ in records if q == p) + 1 for p in {q for q, _, _ in records}}
        assert {p: o for p, o in positions.items() if o >= 0} == consumed
        a.close()
        b.close()
        committed = committed_offsets(gbroker.bootstrap, group, topic, 4)
        assert committed == {p: consumed.get(p, -1001) for p in range(4)}
        assert sum(o for o in committed.values() if o > 0) < 80  # a partial read: not just "everything"
        assert_no_errors(everyone)
    finally:
        close_all(everyone)


def test_commit_sync_and_async_with_on_commit_callback(gbroker: BrokerProcess, topic: str) -> None:
    ck_create_topic(gbroker.bootstrap, topic, partitions=2)
    produce_spread(gbroker.bootstrap, topic, 40, 2)
    group = unique_group("ck-commit")
    callbacks: list[tuple[Any, list[tuple[int, int, Any]]]] = []

    def on_commit(err: Any, partitions: list[TopicPartition]) -> None:
        callbacks.append((err, [(tp.partition, tp.offset, tp.error) for tp in partitions]))

    a = Member("a", gbroker, group, topic, commit_each=False, commit_on_revoke=False, extra={"on_commit": on_commit})
    try:
        pump([a], lambda: len(a.records) >= 10, "10 records")
        positions = a.positions()
        result = a.consumer.commit(asynchronous=False)
        # librdkafka lists every assigned partition; those it has no offset for yet as OFFSET_INVALID (-1001).
        assert {tp.partition: tp.offset for tp in result} == positions
        assert all(tp.error is None for tp in result), result
        assert committed_offsets(gbroker.bootstrap, group, topic, 2) == {
            p: positions[p] if positions[p] >= 0 else -1001 for p in range(2)
        }

        pump([a], lambda: len(a.records) >= 40, "all 40 records")
        callbacks.clear()
        assert a.consumer.commit(asynchronous=True) is None
        pump([a], lambda: bool(callbacks), "the on_commit callback")
        err, offsets = callbacks[-1]
        assert err is None, err
        assert sorted(offsets) == [(0, 20, None), (1, 20, None)]
        assert committed_offsets(gbroker.bootstrap, group, topic, 2) == {0: 20, 1: 20}

        # An explicit offset, asynchronously, acknowledged through the same callback.
        callbacks.clear()
        a.consumer.commit(offsets=[TopicPartition(topic, 0, 7)], asynchronous=True)
        pump([a], lambda: bool(callbacks), "the on_commit callback")
        assert callbacks[-1] == (None, [(0, 7, None)])
        assert committed_offsets(gbroker.bootstrap, group, topic, 2) == {0: 7, 1: 20}
        assert_no_errors([a])
    finally:
        a.close()


# -- durability ------------------------------------------------------------------------------------------


def test_committed_offsets_survive_broker_sigkill(broker_factory: Callable[..., BrokerProcess], topic: str) -> None:
    broker = broker_factory(GROUP_OVERRIDES)
    ck_create_topic(broker.bootstrap, topic, partitions=3)
    sent = produce_spread(broker.bootstrap, topic, 60, 3)
    group = unique_group("ck-durable")
    a, b = Member("a", broker, group, topic), Member("b", broker, group, topic)
    everyone = [a, b]
    try:
        pump([a, b], lambda: split([a, b], 3), "a split of 3 partitions")
        pump([a, b], lambda: len(values([a, b])) >= 25, "25 records")
        a.close()
        b.close()
        first = values([a, b])
        committed = committed_offsets(broker.bootstrap, group, topic, 3)
        starts = {p: max(o, 0) for p, o in committed.items()}  # -1001: nothing committed, start at 0
        assert sum(starts.values()) == len(first)

        broker.kill()
        broker.restart()
        assert committed_offsets(broker.bootstrap, group, topic, 3) == committed

        c = Member("c", broker, group, topic)
        everyone.append(c)
        pump([c], lambda: len(c.records) >= 60 - len(first), "the records not yet committed")
        pump_for([c], 0.5)
        assert sorted(first + values([c])) == sorted(sent), "resumed at the wrong offsets after SIGKILL"
        first_offsets = {p: min(o for q, o, _ in c.records if q == p) for p in {q for q, _, _ in c.records}}
        assert first_offsets == {p: o for p, o in starts.items() if o < 20}
        assert_no_errors(everyone)
    finally:
        close_all(everyone)


def test_live_group_rides_through_broker_sigkill_without_rebalance(
    broker_factory: Callable[..., BrokerProcess], topic: str
) -> None:
    """SIGKILL and restart under a Stable group: the coordinator reloads the group (members, generation,
    assignment) from __consumer_offsets, the members' heartbeats and commits are accepted as before, and they
    consume what is produced after the restart, each record once, with no rebalance."""
    broker = broker_factory(GROUP_OVERRIDES)
    ck_create_topic(broker.bootstrap, topic, partitions=4)
    sent = produce_spread(broker.bootstrap, topic, 40, 4)
    group = unique_group("ck-live")
    a, b = Member("a", broker, group, topic), Member("b", broker, group, topic)
    everyone = [a, b]
    try:
        pump([a, b], lambda: split([a, b], 4, [2, 2]), "a 2/2 split")
        pump([a, b], lambda: len(values([a, b])) >= 40, "the 40 records")
        generations, events = stabilized_generations(broker, group), (list(a.events), list(b.events))

        broker.kill()
        broker.restart()
        later = produce_spread(broker.bootstrap, topic, 40, 4, prefix="later", start=40)
        pump([a, b], lambda: len(values([a, b])) >= 80, "the 40 records produced after the restart")
        pump_for([a, b], 1.0)

        assert sorted(values([a, b])) == sorted(sent + later), "records lost or processed twice"
        assert (a.events, b.events) == events, "the restart caused a rebalance"
        assert stabilized_generations(broker, group) == generations
        assert committed_offsets(broker.bootstrap, group, topic, 4) == dict.fromkeys(range(4), 20)
        assert_no_errors(everyone)
    finally:
        close_all(everyone)
