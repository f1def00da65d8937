"""kafka-python 3.0.12 consumers in groups against the classic group coordinator.

Members join and leave (ConsumerRebalanceListener), every record processed once across rebalances with
synchronous commits, static membership, commit() and commit_async() with its callback, auto commit on close,
pause() / resume(), committed offsets across a broker SIGKILL.

A KafkaConsumer is not thread-safe and a rebalance needs every member to poll, so each member runs in its own
thread (`KpMember`), which owns the consumer: it polls, processes and commits, and runs the test's requests
(`call`) between polls. Every wait is bounded. Most records come from group_support.produce_spread
(confluent-kafka); the SIGKILL test produces with a KafkaProducer, `enable_idempotence=False` (InitProducerId is
a later issue).

kafka-python 3 runs rebalance listeners on its IO thread, where blocking calls are refused, so the listener is an
AsyncConsumerRebalanceListener awaiting `commit_async()`; and a member loads its topic's metadata before its first
poll (see `KpMember._await_topic_metadata` for the client race this avoids).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from group_support import (
    GROUP_OVERRIDES,
    HEARTBEAT_INTERVAL_MS,
    MAX_POLL_INTERVAL_MS,
    SESSION_TIMEOUT_MS,
    committed_offsets,
    describe_group,
    end_offsets,
    group_broker,
    produce_spread,
    stabilized_generations,
    unique_group,
)
from it_support import BrokerProcess, ck_create_topic
from kafka import AsyncConsumerRebalanceListener, KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

WAIT_S = 20.0
THREAD_LIMIT_S = 90.0  # a member thread never outlives this, whatever the test does


@pytest.fixture(scope="module")
def gbroker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    yield from group_broker(tmp_path_factory.mktemp("groups-kafka-python"))


class _Listener(AsyncConsumerRebalanceListener):  # type: ignore[misc]
    """kafka-python 3 runs rebalance listeners on its IO thread, where the blocking commit() is refused ("Cannot
    block on net.run() from the IO thread"); an async listener awaits the commit_async() future instead, which
    is the same synchronous commit from the member's point of view."""

    def __init__(self, member: KpMember) -> None:
        self.member = member

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.member.on_revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.member.on_assigned({tp.partition for tp in assigned})


class KpMember:
    """A subscribed KafkaConsumer owned by a thread. `commit_each`: after each poll, commit the processed records'
    offsets synchronously; `commit_on_revoke`: commit the consumed positions in on_partitions_revoked."""

    def __init__(
        self,
        name: str,
        broker: BrokerProcess,
        group: str,
        topic: str,
        *,
        commit_each: bool = True,
        commit_on_revoke: bool = True,
        process_s: float = 0.0,
        **config: Any,
    ) -> None:
        self.name = name
        self.process_s = process_s
        self.topic = topic
        self.commit_each = commit_each
        self.commit_on_revoke = commit_on_revoke
        self.events: list[tuple[str, frozenset[int]]] = []
        self.assignment: set[int] = set()
        self.records: list[tuple[int, int, bytes]] = []
        self.errors: list[str] = []
        self.consumer: Any = None
        self._config = {
            "bootstrap_servers": broker.bootstrap,
            "group_id": group,
            "client_id": f"it-{name}",
            "auto_offset_reset": "earliest",
            "enable_auto_commit": False,
            "session_timeout_ms": SESSION_TIMEOUT_MS,
            "heartbeat_interval_ms": HEARTBEAT_INTERVAL_MS,
            "max_poll_interval_ms": MAX_POLL_INTERVAL_MS,
            "request_timeout_ms": 15_000,
            "fetch_max_wait_ms": 100,
            "max_poll_records": 10,
            **config,
        }
        self._calls: queue.Queue[tuple[Callable[[Any], Any], Future[Any]]] = queue.Queue()
        self._stop = threading.Event()
        self._started = threading.Event()
        self.closed = False
        self._thread = threading.Thread(target=self._run, name=f"kp-{name}", daemon=True)
        self._thread.start()
        assert self._started.wait(WAIT_S), f"{name}: consumer not created"
        assert not self.errors, self.errors

    # -- in the member's thread ------------------------------------------------------------------------

    def _run(self) -> None:
        deadline = time.monotonic() + THREAD_LIMIT_S
        try:
            self.consumer = KafkaConsumer(**self._config)
            self.consumer.subscribe([self.topic], listener=_Listener(self))
            self._await_topic_metadata()
        except Exception as exc:
            self.errors.append(f"create: {exc!r}")
            return
        finally:
            self._started.set()
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                self._serve_calls()
                if self._stop.is_set() or self.consumer._closed:
                    break
                self._poll_once()
        except Exception as exc:
            self.errors.append(f"poll loop: {exc!r}")
        finally:
            self._serve_calls()
            if not self.consumer._closed:
                self.consumer.close(autocommit=False, timeout_ms=5000)
            while not self._calls.empty():  # nobody waits forever for a call made too late
                _, future = self._calls.get_nowait()
                future.set_exception(RuntimeError(f"{self.name}: member thread ended"))

    def _await_topic_metadata(self) -> None:
        """Have the subscribed topic's partitions in the coordinator's metadata snapshot before the first poll.

        Otherwise kafka-python 3.0.12 may join before it has them, assign nothing (or take an assignment whose
        snapshot is empty), and rejoin as soon as the metadata arrives. If poll()'s timer runs out between the
        leader's assignment and the SyncGroup response of that rejoin, the member never finishes the join:
        need_rejoin() is already False, so the finished join is never collected, heartbeats stay disabled, and
        the coordinator expires the member after session.timeout.ms. A client bug, seen as a member stuck
        without partitions; the broker answers every request correctly."""
        deadline = time.monotonic() + WAIT_S
        coordinator = self.consumer._coordinator
        while self.topic not in coordinator._metadata_snapshot:
            assert time.monotonic() < deadline, f"{self.name}: no metadata for {self.topic}"
            self.consumer._client.cluster.request_update()
            self.consumer.partitions_for_topic(self.topic)
            time.sleep(0.02)

    def _serve_calls(self) -> None:
        while True:
            try:
                fn, future = self._calls.get_nowait()
            except queue.Empty:
                return
            try:
                future.set_result(fn(self.consumer))
            except Exception as exc:
                future.set_exception(exc)

    def _poll_once(self) -> None:
        batches = self.consumer.poll(timeout_ms=100)
        processed: dict[Any, OffsetAndMetadata] = {}
        for tp, records in batches.items():
            for record in records:
                time.sleep(self.process_s)  # "processing" (keeps a member from draining the topic too fast)
                self.records.append((tp.partition, record.offset, record.value))
                processed[tp] = OffsetAndMetadata(record.offset + 1, "", -1)
        if self.commit_each and processed:
            self.consumer.commit(processed)

    async def on_revoked(self, partitions: set[int]) -> None:
        self.events.append(("revoke", frozenset(partitions)))
        if self.commit_on_revoke and partitions:
            try:
                await self.consumer.commit_async()  # every consumed position; raises if the commit failed
            except Exception as exc:
                self.errors.append(f"commit in on_partitions_revoked: {exc!r}")
        self.assignment -= partitions

    def on_assigned(self, partitions: set[int]) -> None:
        self.events.append(("assign", frozenset(partitions)))
        self.assignment |= partitions

    # -- from the test's thread ------------------------------------------------------------------------

    def call(self, fn: Callable[[Any], Any], timeout: float = WAIT_S) -> Any:
        """Run fn(consumer) in the member's thread between two polls; its result (or exception)."""
        assert self._thread.is_alive(), f"{self.name}: member thread ended: {self.errors}"
        future: Future[Any] = Future()
        self._calls.put((fn, future))
        return future.result(timeout=timeout)

    def close(self, autocommit: bool = True) -> None:
        """KafkaConsumer.close() in the member's thread (LeaveGroup for a dynamic member), then end the thread."""
        if self.closed:
            return
        self.closed = True
        if self._thread.is_alive():
            self.call(lambda c: c.close(autocommit=autocommit, timeout_ms=10_000))
        self._stop.set()
        self._thread.join(WAIT_S)
        assert not self._thread.is_alive(), f"{self.name}: thread did not end"

    def positions(self) -> dict[int, int]:
        return dict(
            self.call(lambda c: {tp.partition: c.position(tp) for tp in c.assignment() if tp.topic == self.topic})
        )

    def generation(self) -> tuple[int, str]:
        meta = self.call(lambda c: c.group_metadata())
        return int(meta.generation_id), str(meta.member_id)

    def kinds(self) -> list[str]:
        """Event kinds, without kafka-python's on_partitions_revoked(set()) before each join of an unassigned
        member and the empty assignment of a join made before the topic's metadata arrived."""
        return [kind for kind, parts in self.events if parts]

    def nonempty_events(self) -> list[tuple[str, frozenset[int]]]:
        return [(kind, parts) for kind, parts in self.events if parts]


def wait(members: list[KpMember], until: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        errors = {m.name: m.errors for m in members if m.errors}
        assert not errors, f"while waiting for {what}: {errors}"
        if time.monotonic() >= deadline:
            state = {m.name: (sorted(m.assignment), len(m.records), m.events) for m in members}
            raise AssertionError(f"timed out after {timeout} s waiting for {what}: {state}")
        time.sleep(0.02)


def split(members: list[KpMember], partitions: int, sizes: list[int] | None = None) -> bool:
    assignments = [set(m.assignment) for m in members]
    if sorted(p for a in assignments for p in a) != list(range(partitions)) or not all(assignments):
        return False
    return sizes is None or sorted(len(a) for a in assignments) == sorted(sizes)


def values(members: list[KpMember]) -> list[bytes]:
    return [v for m in members for _, _, v in list(m.records)]


def stop_all(members: list[KpMember]) -> None:
    """Finalizer: end every member thread (closing its consumer without commits)."""
    for m in members:
        m._stop.set()
    for m in members:
        m._thread.join(WAIT_S)


def assert_no_errors(members: list[KpMember]) -> None:
    assert not [e for m in members for e in m.errors], {m.name: m.errors for m in members}


# -- join, leave, commits, resume ------------------------------------------------------------------------


def test_listener_rebalances_once_only_delivery_and_resume(gbroker: BrokerProcess, topic: str) -> None:
    """Two members with a ConsumerRebalanceListener: the second joins mid-stream and later leaves (close()); each
    record is processed once (synchronous commit after every poll and in on_partitions_revoked); a new member
    resumes after the committed offsets."""
    n = 240
    ck_create_topic(gbroker.bootstrap, topic, partitions=6)
    sent = produce_spread(gbroker.bootstrap, topic, n, 6)
    group = unique_group("kp-listener")
    a = KpMember("a", gbroker, group, topic, process_s=0.01)
    everyone = [a]
    try:
        wait([a], lambda: len(a.records) >= 40, "a to process 40 records")
        # a pauses (still polling and heartbeating) so that records are left for b whatever the timing; the
        # rebalance then hands b partitions in the middle, after a's commits.
        a.call(lambda c: c.pause(*c.assignment()))
        b = KpMember("b", gbroker, group, topic, process_s=0.01)
        everyone.append(b)
        wait([a, b], lambda: split([a, b], 6, [3, 3]), "a 3/3 split")
        a.call(lambda c: c.resume(*c.assignment()))
        wait([a, b], lambda: len(b.records) > 0, "b to process records")
        gen_a, member_a = a.generation()
        gen_b, member_b = b.generation()
        assert gen_a == gen_b == stabilized_generations(gbroker, group)[-1] and member_a != member_b
        wait([a, b], lambda: len(values([a, b])) >= 160, "160 records")
        b.close()
        wait([a], lambda: a.assignment == set(range(6)), "a, the survivor, to own all 6 partitions")
        wait([a], lambda: len(values([a, b])) >= n, f"all {n} records")
        time.sleep(0.5)
        got = values([a, b])
        duplicates = sorted({v for v in got if got.count(v) > 1})
        assert not duplicates, f"processed twice: {duplicates[:20]}"
        assert sorted(got) == sorted(sent)
        assert a.nonempty_events()[0] == ("assign", frozenset(range(6)))
        assert a.kinds() == ["assign", "revoke", "assign", "revoke", "assign"], a.events
        assert b.kinds()[:1] == ["assign"] and b.kinds()[-1] == "revoke", b.events
        assert a.generation()[0] == gen_a + 1 == stabilized_generations(gbroker, group)[-1]
        assert committed_offsets(gbroker.bootstrap, group, topic, 6) == end_offsets(gbroker.bootstrap, topic, 6)
        assert_no_errors(everyone)
        a.close()

        later = produce_spread(gbroker.bootstrap, topic, 30, 6, prefix="later", start=n)
        c = KpMember("c", gbroker, group, topic)
        everyone.append(c)
        wait([c], lambda: len(c.records) >= 30, "c to read the 30 new records")
        time.sleep(0.5)
        assert sorted(v for _, _, v in c.records) == sorted(later)
        assert {(p, o) for p, o, _ in c.records} == {(p, o) for p in range(6) for o in range(40, 45)}
        assert_no_errors(everyone)
    finally:
        stop_all(everyone)


# -- static membership -----------------------------------------------------------------------------------


def test_static_member_restart_keeps_partitions_without_rebalance(gbroker: BrokerProcess, topic: str) -> None:
    """kafka-python static members (group_instance_id): the restarted member (close() without LeaveGroup, since a
    static member keeps its place) gets its partitions back at the same generation; the other sees nothing."""
    ck_create_topic(gbroker.bootstrap, topic, partitions=4)
    sent = produce_spread(gbroker.bootstrap, topic, 40, 4)
    group = unique_group("kp-static")

    def static(name: str) -> KpMember:
        return KpMember(name, gbroker, group, topic, group_instance_id=f"{group}-{name}")

    a, b = static("a"), static("b")
    everyone = [a, b]
    try:
        wait([a, b], lambda: split([a, b], 4, [2, 2]), "a 2/2 split")
        wait([a, b], lambda: len(values([a, b])) >= 40, "the 40 records")
        assert sorted(values([a, b])) == sorted(sent)
        generation, b_member = b.generation()
        _, a_member = a.generation()
        b_events, b_seen, a_partitions = list(b.events), len(b.records), set(a.assignment)
        generations = stabilized_generations(gbroker, group)

        a.close()
        assert f"member {a_member} is leaving" not in gbroker.output(), "a static member sent LeaveGroup"
        later = produce_spread(gbroker.bootstrap, topic, 20, 4, prefix="later", start=40)
        a2 = static("a")
        everyone.append(a2)
        wait([a2, b], lambda: a2.assignment == a_partitions, "the restarted a to get its partitions back")
        wait([a2, b], lambda: len(a2.records) + len(b.records) - b_seen >= 20, "the 20 new records")
        time.sleep(1.5)  # several heartbeats: a rebalance would show up here

        assert sorted(v for _, _, v in a2.records + b.records[b_seen:]) == sorted(later)
        assert b.events == b_events, f"the other member saw a rebalance: {b_events} -> {b.events}"
        assert b.generation() == (generation, b_member)
        a2_generation, a2_member = a2.generation()
        assert a2_generation == generation and a2_member != a_member
        assert stabilized_generations(gbroker, group) == generations
        described = describe_group(gbroker, group)
        assert described.group_state == "Stable"
        assert {m.group_instance_id: m.member_id for m in described.members} == {
            f"{group}-a": a2_member,
            f"{group}-b": b_member,
        }
        assert_no_errors(everyone)
    finally:
        stop_all(everyone)


# -- commits ---------------------------------------------------------------------------------------------


def test_commit_sync_and_commit_async_with_callback(gbroker: BrokerProcess, topic: str) -> None:
    ck_create_topic(gbroker.bootstrap, topic, partitions=2)
    produce_spread(gbroker.bootstrap, topic, 40, 2)
    group = unique_group("kp-commit")
    a = KpMember("a", gbroker, group, topic, commit_each=False, commit_on_revoke=False)
    try:
        wait([a], lambda: len(a.records) >= 40, "all 40 records")
        tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
        a.call(lambda c: c.commit({tp0: OffsetAndMetadata(5, "five", -1), tp1: OffsetAndMetadata(6, "", -1)}))
        assert committed_offsets(gbroker.bootstrap, group, topic, 2) == {0: 5, 1: 6}
        assert a.call(lambda c: (c.committed(tp0), c.committed(tp0, metadata=True).metadata)) == (5, "five")

        responses: list[tuple[dict[Any, Any], Any]] = []
        a.call(lambda c: c.commit_async(callback=lambda offsets, response: responses.append((offsets, response))))
        wait([a], lambda: bool(responses), "the commit_async callback")  # fired by a later poll of the member
        offsets, response = responses[0]
        assert not isinstance(response, BaseException), response
        assert {tp.partition: om.offset for tp, om in offsets.items()} == {0: 20, 1: 20}
        assert committed_offsets(gbroker.bootstrap, group, topic, 2) == {0: 20, 1: 20}
        assert a.positions() == {0: 20, 1: 20}
        assert_no_errors([a])
    finally:
        stop_all([a])


def test_auto_commit_commits_positions_on_close(gbroker: BrokerProcess, topic: str) -> None:
    ck_create_topic(gbroker.bootstrap, topic, partitions=4)
    group = unique_group("kp-auto")
    config = {"enable_auto_commit": True, "auto_commit_interval_ms": 100, "max_poll_records": 3, "process_s": 0.01}
    a = KpMember("a", gbroker, group, topic, commit_each=False, commit_on_revoke=False, **config)
    b = KpMember("b", gbroker, group, topic, commit_each=False, commit_on_revoke=False, **config)
    try:
        wait([a, b], lambda: split([a, b], 4, [2, 2]), "a 2/2 split")
        produce_spread(gbroker.bootstrap, topic, 200, 4)  # after the split: each member reads only its partitions
        wait([a, b], lambda: len(a.records) >= 12 and len(b.records) >= 12, "12 records each")
        positions: dict[int, int] = {}

        def positions_then_close(c: Any) -> dict[int, int]:
            # in the member's thread, with no poll in between: where it is, then close() (commits on close)
            where = {tp.partition: c.position(tp) for tp in c.assignment()}
            c.close(timeout_ms=10_000)
            return where

        for m in (a, b):
            positions.update(m.call(positions_then_close))
            m.close()
        records = a.records + b.records
        assert positions == {p: max([o + 1 for q, o, _ in records if q == p], default=0) for p in range(4)}
        committed = committed_offsets(gbroker.bootstrap, group, topic, 4)
        # a partition a member read nothing from may be committed at 0 or not at all
        assert {p: o for p, o in committed.items() if o != -1001} == {
            p: o for p, o in positions.items() if o > 0 or committed[p] == 0
        }
        assert sum(positions.values()) < 200  # stopped in the middle: not just "everything"
        assert_no_errors([a, b])
    finally:
        stop_all([a, b])


# -- pause / resume --------------------------------------------------------------------------------------


def test_pause_and_resume_in_a_group(gbroker: BrokerProcess, topic: str) -> None:
    ck_create_topic(gbroker.bootstrap, topic, partitions=3)
    first = produce_spread(gbroker.bootstrap, topic, 30, 3)
    group = unique_group("kp-pause")
    a = KpMember("a", gbroker, group, topic)
    try:
        wait([a], lambda: len(a.records) >= 30, "the first 30 records")
        paused = a.call(lambda c: (c.pause(*c.assignment()), c.paused())[1])
        assert {tp.partition for tp in paused} == {0, 1, 2}
        second = produce_spread(gbroker.bootstrap, topic, 30, 3, prefix="second", start=30)
        time.sleep(1.5)  # the member keeps polling (and heartbeating) while paused
        assert len(a.records) == 30, "records delivered while paused"
        a.call(lambda c: c.resume(*c.assignment()))
        wait([a], lambda: len(a.records) >= 60, "the 30 records produced while paused")
        time.sleep(0.3)
        assert sorted(values([a])) == sorted(first + second)
        assert a.kinds() == ["assign"], f"pausing must not rebalance: {a.events}"
        assert committed_offsets(gbroker.bootstrap, group, topic, 3) == {0: 20, 1: 20, 2: 20}
        assert_no_errors([a])
    finally:
        stop_all([a])


# -- producer with enable_idempotence=False, durability --------------------------------------------------


def test_committed_offsets_survive_broker_sigkill(broker_factory: Callable[..., BrokerProcess], topic: str) -> None:
    broker = broker_factory(GROUP_OVERRIDES)
    ck_create_topic(broker.bootstrap, topic, partitions=2)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=False, request_timeout_ms=10_000)
    try:
        futures = [producer.send(topic, value=f"v{i}".encode(), partition=i % 2) for i in range(40)]
        producer.flush(timeout=15)
        assert all(f.get(timeout=15).offset == i // 2 for i, f in enumerate(futures))
    finally:
        producer.close(timeout=5)
    group = unique_group("kp-durable")
    a = KpMember("a", broker, group, topic, max_poll_records=4)
    everyone = [a]
    try:
        wait([a], lambda: len(a.records) >= 16, "16 records")
        a.close(autocommit=False)
        committed = committed_offsets(broker.bootstrap, group, topic, 2)
        assert sum(max(o, 0) for o in committed.values()) == len(a.records)

        broker.kill()
        broker.restart()
        assert committed_offsets(broker.bootstrap, group, topic, 2) == committed
        b = KpMember("b", broker, group, topic)
        everyone.append(b)
        wait([b], lambda: len(a.records) + len(b.records) >= 40, "the records not yet committed")
        time.sleep(0.5)
        assert sorted(values([a, b])) == sorted(f"v{i}".encode() for i in range(40))
        starts = {p: min(o for q, o, _ in b.records if q == p) for p in {q for q, _, _ in b.records}}
        assert starts == {p: max(o, 0) for p, o in committed.items() if o < 20}
        assert_no_errors(everyone)
    finally:
        stop_all(everyone)
