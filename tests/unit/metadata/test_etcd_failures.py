"""The etcd store under failures, on real etcd members (etcd_support; heartbeat 10 ms, election 100 ms).

Each test starts its own cluster in its folder (3 members unless said) and stops it by PID at the end; every wait
is bounded. The default run keeps a smoke set (leader SIGKILL during CAS writes, a watch whose member dies, a
lapsed controller lease fencing its writes); the slower ones are marked slow.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from etcd_support import EtcdCluster, EtcdMember, etcd_missing
from metadata_testing import next_batch, run
from odradek.broker.metadata.cache import MetadataCache
from odradek.broker.metadata.controller import Controller
from odradek.broker.metadata.election import ControllerElection
from odradek.broker.metadata.errors import ControllerError, ErrorCode
from odradek.broker.metadata.etcd import EtcdMetadataStore
from odradek.broker.metadata.image import CONTROLLER_KEY
from odradek.broker.metadata.store import CompactedError, Compare, EventType, Op

pytestmark = pytest.mark.skipif(etcd_missing() is not None, reason=str(etcd_missing()))

PREFIX = b"/failures"


_opened: list[EtcdMetadataStore] = []


async def open_on(members: list[EtcdMember], **options: float) -> EtcdMetadataStore:
    settings = {"request_timeout_s": 0.5, "operation_timeout_s": 10.0, "watch_idle_check_s": 1.0} | options
    store = await EtcdMetadataStore.open([m.endpoint for m in members], PREFIX, **settings)
    _opened.append(store)
    return store


def with_cluster(tmp_path: Path, body: Callable[[EtcdCluster], Awaitable[None]], size: int = 3) -> None:
    async def main(cluster: EtcdCluster) -> None:
        try:
            await body(cluster)
        finally:
            while _opened:
                await _opened.pop().close()

    with EtcdCluster(tmp_path, size) as cluster:
        run(main(cluster), timeout=40)


def test_leader_sigkill_during_cas_writes_loses_no_acknowledged_write(tmp_path: Path) -> None:
    """Four writers increment one counter by CAS (each increment carries a unique token) and put keys of their own;
    the etcd leader is SIGKILLed in the middle. Every acknowledged increment is in the counter exactly once, and
    every acknowledged put is there."""

    async def body(cluster: EtcdCluster) -> None:
        store = await open_on(cluster.members)
        await store.put(b"/counter", json.dumps({"n": 0, "token": ""}).encode())
        acked_increments: list[str] = []
        acked_puts: dict[bytes, bytes] = {}
        ack_times: list[float] = []
        stop = asyncio.Event()

        async def writer(w: int) -> None:
            seq = 0
            while not stop.is_set():
                seq += 1
                current = await store.get(b"/counter")
                assert current is not None
                token = f"{w}-{seq}"
                value = json.dumps({"n": json.loads(current.value)["n"] + 1, "token": token}).encode()
                key = f"/w/{w}/{seq}".encode()
                result = await store.txn(
                    [Compare.unchanged(b"/counter", current.mod_revision)],
                    [Op.put(b"/counter", value), Op.put(key, token.encode())],
                    [],
                )
                if result.succeeded:
                    ack_times.append(time.monotonic())
                    acked_increments.append(token)
                    acked_puts[key] = token.encode()
                await store.put(key + b"/plain", b"p")
                acked_puts[key + b"/plain"] = b"p"

        writers = [asyncio.ensure_future(writer(w)) for w in range(4)]
        await asyncio.sleep(0.3)
        before_kill = len(acked_increments)
        leader = await asyncio.to_thread(cluster.leader)
        leader.kill()
        killed_at = time.monotonic()
        await asyncio.sleep(1.5)
        stop.set()
        await asyncio.gather(*writers)
        assert before_kill > 0 and len(acked_increments) > before_kill, "writes went on after the leader died"
        counter = await store.get(b"/counter")
        assert counter is not None
        assert json.loads(counter.value)["n"] == len(acked_increments) == len(set(acked_increments))
        for key, value in acked_puts.items():
            kv = await store.get(key)
            assert kv is not None and kv.value == value, key
        # The CAS history: every counter revision is one increment (no increment applied twice).
        history = store.watch(b"/counter", start_revision=1)
        seen = []
        while len(seen) < len(acked_increments) + 1:
            for event in await next_batch(history):
                seen.append(json.loads(event.kv.value))
        await history.aclose()
        assert [s["n"] for s in seen] == list(range(len(acked_increments) + 1))
        assert sorted(s["token"] for s in seen[1:]) == sorted(acked_increments)
        failover = min(t for t in ack_times if t > killed_at) - killed_at
        print(f"first CAS acknowledged {failover:.3f} s after the leader's SIGKILL; {len(acked_increments)} acked")
        await store.close()

    with_cluster(tmp_path, body)


def test_a_watch_resumes_on_another_member_when_its_member_dies(tmp_path: Path) -> None:
    async def body(cluster: EtcdCluster) -> None:
        store = await open_on(cluster.members)
        base = store.revision
        watch = store.watch(b"/w/")
        await store.put(b"/w/0", b"0")
        assert [e.kv.key for e in await next_batch(watch)] == [b"/w/0"]
        watched = next(m for m in cluster.members if m.endpoint == watch.endpoint)
        others = [m for m in cluster.members if m is not watched]
        writer = await open_on(others)
        watched.kill()
        for i in range(1, 20):
            await writer.put(b"/w/%d" % i, b"%d" % i)
        await writer.delete(b"/w/3")
        events = []
        while len(events) < 20:
            batch = await next_batch(watch, timeout=5)
            assert len({e.revision for e in batch}) == 1, "one batch per revision"
            events.extend(batch)
        assert [(e.type, e.kv.key) for e in events] == [(EventType.PUT, b"/w/%d" % i) for i in range(1, 20)] + [
            (EventType.DELETE, b"/w/3")
        ]
        assert [e.revision for e in events] == list(range(base + 2, base + 22)), "no gap, no duplicate"
        assert watch.endpoint != watched.endpoint
        await writer.close()
        await store.close()

    with_cluster(tmp_path, body)


def test_a_lapsed_controller_lease_fences_the_paused_controller(tmp_path: Path) -> None:
    """The controller stops sending keepalives (as a paused process does): etcd ends its lease, /controller is
    deleted, another broker claims it, and the old controller's next write is refused NOT_CONTROLLER."""

    async def body(cluster: EtcdCluster) -> None:
        store = await open_on(cluster.members)
        election = ControllerElection(store, 1, ttl_s=1)
        await election.start()
        assert election.is_controller
        controller = Controller(store, fence=election, rng=random.Random(0))
        await controller.register_broker(1, "127.0.0.1", 9092, lease_id=await store.grant_lease(60))
        await controller.create_topic("before", 1, 1)
        watch = store.watch(CONTROLLER_KEY)
        paused_at = time.monotonic()
        assert election._task is not None
        election._task.cancel()  # no more keepalives: what SIGSTOP does to a broker
        events = await next_batch(watch, timeout=5)
        lapsed = time.monotonic() - paused_at
        assert [e.type for e in events] == [EventType.DELETE]
        assert lapsed < 3, f"the 1 s lease took {lapsed:.2f} s to end"
        assert election.is_controller, "the paused controller still believes it is the controller"
        other_store = await open_on(cluster.members[1:])
        successor = ControllerElection(other_store, 2, ttl_s=5)
        await successor.start()
        assert successor.is_controller
        with pytest.raises(ControllerError) as info:
            await controller.create_topic("after", 1, 1)
        assert info.value.error_code is ErrorCode.NOT_CONTROLLER
        assert await store.get(b"/topics/after") is None
        await successor.stop()
        await other_store.close()
        await watch.aclose()
        await store.close()

    with_cluster(tmp_path, body)


@pytest.mark.slow
def test_a_watch_that_resumes_after_compaction_relists_and_the_cache_catches_up(tmp_path: Path) -> None:
    """The cache's store talks to m0 only. m0 dies; topics are created and the history compacted through the other
    members; m0 restarts on its data. The cache's watch resumes from a compacted revision, gets CompactedError,
    and the cache reloads everything: its image has the topics made while it was cut off."""

    async def body(cluster: EtcdCluster) -> None:
        m0 = cluster.members[0]
        store = await open_on([m0])
        writer = await open_on(cluster.members[1:])
        election = ControllerElection(writer, 1, ttl_s=30)
        await election.start()
        controller = Controller(writer, fence=election, rng=random.Random(0))
        await controller.register_broker(1, "127.0.0.1", 9092, lease_id=await writer.grant_lease(60))
        await controller.create_topic("early", 1, 1)
        cache = MetadataCache(store)
        await cache.start()
        assert "early" in cache.image.topics
        m0.kill()
        for name in ("late-1", "late-2"):
            await controller.create_topic(name, 2, 1)
        await controller.delete_topic("early")
        await writer.compact(writer.revision)
        m0.launch()
        await asyncio.to_thread(m0.wait_ready)
        image = await asyncio.wait_for(cache.wait_for_revision(writer.revision), 15)
        assert set(image.topics) == {"late-1", "late-2"}
        assert len(image.topics["late-2"].partitions) == 2
        await cache.stop()
        await election.stop()
        await writer.close()
        await store.close()

    with_cluster(tmp_path, body)


def test_a_watch_from_a_compacted_revision_raises_compacted_error(tmp_path: Path) -> None:
    async def body(cluster: EtcdCluster) -> None:
        store = await open_on(cluster.members)
        for i in range(5):
            await store.put(b"/c", b"%d" % i)
        await store.compact(store.revision - 1)
        with pytest.raises(CompactedError) as info:
            await next_batch(store.watch(b"/", start_revision=store.revision - 2))
        assert info.value.compact_revision == store.revision - 2, "the last revision a watch cannot start from"
        oldest = store.watch(b"/", start_revision=store.revision - 1)
        assert [e.revision for e in await next_batch(oldest)] == [store.revision - 1]
        await oldest.aclose()
        await store.close()

    with_cluster(tmp_path, body, size=1)


@pytest.mark.slow
def test_a_paused_member_is_left_by_an_idle_watch_and_requests(tmp_path: Path) -> None:
    """SIGSTOP of the member a watch and the requests use: requests time out and fail over; the idle watch's status
    probe gives the member up and the watch resumes elsewhere."""

    async def body(cluster: EtcdCluster) -> None:
        store = await open_on(cluster.members, watch_idle_check_s=0.5)
        watch = store.watch(b"/p/")
        await asyncio.sleep(0.2)
        paused = next(m for m in cluster.members if m.endpoint == watch.endpoint)
        paused.signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            await store.put(b"/p/1", b"1")
            assert time.monotonic() - started < 5
            assert [e.kv.key for e in await next_batch(watch, timeout=5)] == [b"/p/1"]
            assert watch.endpoint != paused.endpoint
        finally:
            paused.signal(signal.SIGCONT)
        await store.close()

    with_cluster(tmp_path, body)
