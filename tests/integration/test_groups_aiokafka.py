"""aiokafka 0.14 consumers in groups against the classic group coordinator.

Members join and leave (ConsumerRebalanceListener with async callbacks), every record processed once across the
rebalances (commit after each batch and in on_partitions_revoked), a new member resuming after the commits,
static membership, two groups reading one topic independently, pause() / resume(), manual and auto commit.

Each test runs its own event loop (`asyncio.run`); each member consumes in its own task (`AioMember`), and
every wait is bounded (`asyncio.wait_for`, `until`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import OffsetAndMetadata
from group_support import (
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

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

WAIT_S = 20.0


@pytest.fixture(scope="module")
def gbroker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    yield from group_broker(tmp_path_factory.mktemp("groups-aiokafka"))


def run(coro: Coroutine[Any, Any, None], timeout: float = 90.0) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout))


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, member: AioMember) -> None:
        self.member = member

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.member.on_revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.member.on_assigned({tp.partition for tp in assigned})


class AioMember:
    """A subscribed AIOKafkaConsumer and the task consuming with it.

    `commit_each`: commit each batch's offsets after processing it; `commit_on_revoke`: commit every consumed
    position in on_partitions_revoked. Processing is synchronous, so when aiokafka's coordination task runs the
    revoke callback every record getmany() returned has been processed: committing the positions there is exact.
    """

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
        self.topic = topic
        self.commit_each = commit_each
        self.commit_on_revoke = commit_on_revoke
        self.process_s = process_s
        self.events: list[tuple[str, frozenset[int]]] = []
        self.assignment: set[int] = set()
        self.records: list[tuple[int, int, bytes]] = []
        self.errors: list[str] = []
        self.late_commits = 0  # batch commits refused because a rebalance began (covered by on_revoke)
        settings: dict[str, Any] = {
            "bootstrap_servers": broker.bootstrap,
            "group_id": group,
            "client_id": f"it-{name}",
            "auto_offset_reset": "earliest",
            "enable_auto_commit": False,
            "session_timeout_ms": SESSION_TIMEOUT_MS,
            "heartbeat_interval_ms": HEARTBEAT_INTERVAL_MS,
            "max_poll_interval_ms": MAX_POLL_INTERVAL_MS,
            "rebalance_timeout_ms": MAX_POLL_INTERVAL_MS,
            "fetch_max_wait_ms": 100,
        }
        self.consumer = AIOKafkaConsumer(**{**settings, **config})
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.stopped = False

    async def start(self) -> AioMember:
        self.consumer.subscribe([self.topic], listener=_Listener(self))
        await asyncio.wait_for(self.consumer.start(), WAIT_S)
        self._task = asyncio.create_task(self._consume())
        return self

    async def _consume(self) -> None:
        try:
            while not self._stopping:
                batches = await self.consumer.getmany(timeout_ms=100, max_records=10)
                processed: dict[TopicPartition, int] = {}
                for tp, records in batches.items():
                    for record in records:
                        if self.process_s:
                            time.sleep(self.process_s)  # "processing", synchronous on purpose
                        self.records.append((tp.partition, record.offset, record.value))
                        processed[tp] = record.offset + 1
                if self.commit_each and processed:
                    try:
                        await self.consumer.commit(processed)
                    except (CommitFailedError, IllegalStateError):
                        self.late_commits += 1
                await asyncio.sleep(0)  # getmany() need not suspend when records are buffered: let others run
        except Exception as exc:
            self.errors.append(f"consume: {exc!r}")

    async def on_revoked(self, partitions: set[int]) -> None:
        self.events.append(("revoke", frozenset(partitions)))
        if self.commit_on_revoke and partitions:
            try:
                await self.consumer.commit()
            except KafkaError as exc:
                self.errors.append(f"commit in on_partitions_revoked: {exc!r}")
        self.assignment -= partitions

    def on_assigned(self, partitions: set[int]) -> None:
        self.events.append(("assign", frozenset(partitions)))
        self.assignment |= partitions

    async def stop_consuming(self) -> None:
        """End the consuming task (the consumer stays in the group, heartbeating)."""
        self._stopping = True
        if self._task is not None:
            await asyncio.wait_for(self._task, WAIT_S)

    async def stop(self) -> None:
        """Stop consuming, then AIOKafkaConsumer.stop() (LeaveGroup for a dynamic member)."""
        if self.stopped:
            return
        self.stopped = True
        await self.stop_consuming()
        await asyncio.wait_for(self.consumer.stop(), WAIT_S)

    def kinds(self) -> list[str]:
        return [kind for kind, parts in self.events if parts]


async def until(members: list[AioMember], condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        errors = {m.name: m.errors for m in members if m.errors}
        assert not errors, f"while waiting for {what}: {errors}"
        if time.monotonic() >= deadline:
            state = {m.name: (sorted(m.assignment), len(m.records), m.events) for m in members}
            raise AssertionError(f"timed out after {timeout} s waiting for {what}: {state}")
        await asyncio.sleep(0.02)


async def stop_all(members: list[AioMember]) -> None:
    for m in members:
        with contextlib.suppress(Exception):  # best effort in a finalizer
            await m.stop()


def split(members: list[AioMember], partitions: int, sizes: list[int] | None = None) -> bool:
    assignments = [set(m.assignment) for m in members]
    if sorted(p for a in assignments for p in a) != list(range(partitions)) or not all(assignments):
        return False
    return sizes is None or sorted(len(a) for a in assignments) == sorted(sizes)


def values(members: list[AioMember]) -> list[bytes]:
    return [v for m in members for _, _, v in m.records]


def assert_no_errors(members: list[AioMember]) -> None:
    assert not [e for m in members for e in m.errors], {m.name: m.errors for m in members}


# -- join, leave, commits, resume ------------------------------------------------------------------------


def test_listener_rebalances_once_only_delivery_and_resume(gbroker: BrokerProcess, topic: str) -> None:
    n = 240
    ck_create_topic(gbroker.bootstrap, topic, partitions=6)
    sent = produce_spread(gbroker.bootstrap, topic, n, 6)
    group = unique_group("aio-listener")

    async def scenario() -> None:
        a = await AioMember("a", gbroker, group, topic, process_s=0.01).start()
        everyone = [a]
        try:
            await until([a], lambda: len(a.records) >= 40, "a to process 40 records")
            # a pauses (still polling and heartbeating) so that records are left for b whatever the timing;
            # the rebalance then hands b partitions in the middle, after a's commits.
            a.consumer.pause(*a.consumer.assignment())
            b = await AioMember("b", gbroker, group, topic, process_s=0.01).start()
            everyone.append(b)
            await until([a, b], lambda: split([a, b], 6, [3, 3]), "a 3/3 split")
            a.consumer.resume(*a.consumer.assignment())
            await until([a, b], lambda: len(b.records) > 0, "b to process records")
            await until([a, b], lambda: len(values([a, b])) >= 160, "160 records")
            await b.stop()
            await until([a], lambda: a.assignment == set(range(6)), "a, the survivor, to own all 6 partitions")
            await until([a], lambda: len(values([a, b])) >= n, f"all {n} records")
            await asyncio.sleep(0.5)
            got = values([a, b])
            duplicates = sorted({v for v in got if got.count(v) > 1})
            assert not duplicates, f"processed twice: {duplicates[:20]}"
            assert sorted(got) == sorted(sent)
            assert a.kinds() == ["assign", "revoke", "assign", "revoke", "assign"], a.events
            assert b.kinds() == ["assign"], b.events  # aiokafka's stop() leaves without calling the listener
            generations = stabilized_generations(gbroker, group)
            assert generations == list(range(1, len(generations) + 1)) and len(generations) == 3
            await a.stop()
            assert committed_offsets(gbroker.bootstrap, group, topic, 6) == end_offsets(gbroker.bootstrap, topic, 6)

            later = produce_spread(gbroker.bootstrap, topic, 30, 6, prefix="later", start=n)
            c = await AioMember("c", gbroker, group, topic).start()
            everyone.append(c)
            await until([c], lambda: len(c.records) >= 30, "c to read the 30 new records")
            await asyncio.sleep(0.5)
            assert sorted(v for _, _, v in c.records) == sorted(later)
            assert {(p, o) for p, o, _ in c.records} == {(p, o) for p in range(6) for o in range(40, 45)}
            assert_no_errors(everyone)
        finally:
            await stop_all(everyone)

    run(scenario())


# -- static membership -----------------------------------------------------------------------------------


def test_static_member_restart_keeps_partitions_without_rebalance(gbroker: BrokerProcess, topic: str) -> None:
    ck_create_topic(gbroker.bootstrap, topic, partitions=4)
    sent = produce_spread(gbroker.bootstrap, topic, 40, 4)
    group = unique_group("aio-static")

    async def scenario() -> None:
        def static(name: str) -> AioMember:
            return AioMember(name, gbroker, group, topic, group_instance_id=f"{group}-{name}")

        a, b = await static("a").start(), await static("b").start()
        everyone = [a, b]
        try:
            await until([a, b], lambda: split([a, b], 4, [2, 2]), "a 2/2 split")
            await until([a, b], lambda: len(values([a, b])) >= 40, "the 40 records")
            assert sorted(values([a, b])) == sorted(sent)
            generations = stabilized_generations(gbroker, group)
            before = {m.group_instance_id: m.member_id for m in describe_group(gbroker, group).members}
            b_events, b_seen, a_partitions = list(b.events), len(b.records), set(a.assignment)

            await a.stop()
            a_member = before[f"{group}-a"]
            assert f"member {a_member} is leaving" not in gbroker.output(), "a static member sent LeaveGroup"
            later = produce_spread(gbroker.bootstrap, topic, 20, 4, prefix="later", start=40)
            a2 = await static("a").start()
            everyone.append(a2)
            await until([a2, b], lambda: a2.assignment == a_partitions, "the restarted a to get its partitions")
            await until([a2, b], lambda: len(a2.records) + len(b.records) - b_seen >= 20, "the 20 new records")
            await asyncio.sleep(1.5)  # several heartbeats: a rebalance would show up here

            assert sorted(v for _, _, v in a2.records + b.records[b_seen:]) == sorted(later)
            assert b.events == b_events, f"the other member saw a rebalance: {b_events} -> {b.events}"
            assert stabilized_generations(gbroker, group) == generations
            after = {m.group_instance_id: m.member_id for m in describe_group(gbroker, group).members}
            assert after[f"{group}-b"] == before[f"{group}-b"]
            assert after[f"{group}-a"] != a_member
            assert_no_errors(everyone)
        finally:
            await stop_all(everyone)

    run(scenario())


# -- two groups ------------------------------------------------------------------------------------------


def test_two_groups_read_the_same_topic_independently(gbroker: BrokerProcess, topic: str) -> None:
    """Group one (two members) reads and commits everything; group two (one member) commits only part: each
    group gets every record and keeps its own offsets."""
    ck_create_topic(gbroker.bootstrap, topic, partitions=3)
    sent = produce_spread(gbroker.bootstrap, topic, 90, 3)
    one, two = unique_group("aio-one"), unique_group("aio-two")

    async def scenario() -> None:
        a, b = await AioMember("a", gbroker, one, topic).start(), await AioMember("b", gbroker, one, topic).start()
        c = await AioMember("c", gbroker, two, topic, commit_each=False, commit_on_revoke=False).start()
        everyone = [a, b, c]
        try:
            await until(everyone, lambda: split([a, b], 3) and len(values([a, b])) >= 90, "group one: 90 records")
            await until([c], lambda: len(c.records) >= 90, "group two: 90 records")
            assert sorted(values([a, b])) == sorted(sent)
            assert sorted(values([c])) == sorted(sent)
            await c.stop_consuming()
            tps = [TopicPartition(topic, p) for p in range(3)]
            await c.consumer.commit({tp: OffsetAndMetadata(tp.partition + 5, "") for tp in tps})
            await asyncio.sleep(0.5)

            assert committed_offsets(gbroker.bootstrap, one, topic, 3) == {0: 30, 1: 30, 2: 30}
            assert committed_offsets(gbroker.bootstrap, two, topic, 3) == {0: 5, 1: 6, 2: 7}
            assert {await c.consumer.committed(tp) for tp in tps} == {5, 6, 7}
            assert len(describe_group(gbroker, one).members) == 2
            assert len(describe_group(gbroker, two).members) == 1
            assert_no_errors(everyone)
        finally:
            await stop_all(everyone)

    run(scenario())


# -- pause / resume --------------------------------------------------------------------------------------


def test_pause_and_resume_in_a_group(gbroker: BrokerProcess, topic: str) -> None:
    ck_create_topic(gbroker.bootstrap, topic, partitions=3)
    first = produce_spread(gbroker.bootstrap, topic, 30, 3)
    group = unique_group("aio-pause")

    async def scenario() -> None:
        a = await AioMember("a", gbroker, group, topic).start()
        try:
            await until([a], lambda: len(a.records) >= 30, "the first 30 records")
            a.consumer.pause(*a.consumer.assignment())
            assert {tp.partition for tp in a.consumer.paused()} == {0, 1, 2}
            second = produce_spread(gbroker.bootstrap, topic, 30, 3, prefix="second", start=30)
            await asyncio.sleep(1.5)  # the member keeps calling getmany (and heartbeating) while paused
            assert len(a.records) == 30, "records delivered while paused"
            a.consumer.resume(*a.consumer.assignment())
            await until([a], lambda: len(a.records) >= 60, "the 30 records produced while paused")
            await asyncio.sleep(0.3)
            assert sorted(values([a])) == sorted(first + second)
            assert a.kinds() == ["assign"], f"pausing must not rebalance: {a.events}"
            assert committed_offsets(gbroker.bootstrap, group, topic, 3) == {0: 20, 1: 20, 2: 20}
            assert_no_errors([a])
        finally:
            await a.stop()

    run(scenario())


# -- commits ---------------------------------------------------------------------------------------------


def test_manual_commit_and_auto_commit(gbroker: BrokerProcess, topic: str) -> None:
    """commit() of explicit offsets (with metadata) and of the consumed positions; then auto commit (100 ms):
    after stop() the committed offsets are the positions."""
    ck_create_topic(gbroker.bootstrap, topic, partitions=2)
    produce_spread(gbroker.bootstrap, topic, 40, 2)
    manual, auto = unique_group("aio-manual"), unique_group("aio-auto")

    async def scenario() -> None:
        a = await AioMember("a", gbroker, manual, topic, commit_each=False, commit_on_revoke=False).start()
        everyone = [a]
        try:
            await until([a], lambda: len(a.records) >= 40, "all 40 records")
            tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
            await a.consumer.commit({tp0: OffsetAndMetadata(3, "three"), tp1: 4})
            assert committed_offsets(gbroker.bootstrap, manual, topic, 2) == {0: 3, 1: 4}
            assert await a.consumer.committed(tp0) == 3
            await a.consumer.commit()  # every consumed position
            assert committed_offsets(gbroker.bootstrap, manual, topic, 2) == {0: 20, 1: 20}
            await a.stop()

            b = await AioMember(
                "b",
                gbroker,
                auto,
                topic,
                commit_each=False,
                commit_on_revoke=False,
                enable_auto_commit=True,
                auto_commit_interval_ms=100,
                process_s=0.02,  # slow enough to be stopped in the middle of the partitions
            ).start()
            everyone.append(b)
            await until([b], lambda: len(b.records) >= 10, "10 records")
            await b.stop_consuming()
            positions = {tp.partition: await b.consumer.position(tp) for tp in (tp0, tp1)}
            await b.stop()
            consumed = {p: max([o + 1 for q, o, _ in b.records if q == p], default=0) for p in range(2)}
            assert positions == consumed
            committed = committed_offsets(gbroker.bootstrap, auto, topic, 2)
            assert {p: max(o, 0) for p, o in committed.items()} == positions
            assert sum(positions.values()) < 40
            assert_no_errors(everyone)
        finally:
            await stop_all(everyone)

    run(scenario())
