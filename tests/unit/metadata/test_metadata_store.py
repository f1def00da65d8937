"""MetadataStore semantics. Tests taking ``backend`` are the interface's conformance suite (CAS, ops, watches,
leases) and run on every backend of store_backends.py; the others test the embedded store's own parts (its
history limit, lease timer, journal, snapshots and folder lock)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from metadata_testing import FakeClock, next_batch
from odradek.broker.metadata.embedded import EmbeddedMetadataStore
from odradek.broker.metadata.journal import read_frames
from odradek.broker.metadata.store import (
    CompactedError,
    Compare,
    CompareResult,
    CompareTarget,
    EventType,
    LeaseNotFoundError,
    MetadataStore,
    Op,
    StoreClosedError,
    prefix_end,
)
from store_backends import StoreBackend

StoreTest = Callable[[EmbeddedMetadataStore], Awaitable[None]]
ConformanceTest = Callable[[MetadataStore], Awaitable[None]]


def run_on(backend: StoreBackend, path: Path, body: ConformanceTest, clock: FakeClock | None = None) -> None:
    async def main() -> None:
        store = await backend.open(path, clock or FakeClock())
        try:
            await asyncio.wait_for(body(store), 10)
        finally:
            await store.close()

    asyncio.run(main())


def run_with_store(
    path: Path, body: StoreTest, clock: FakeClock | None = None, *, history_revisions: int = 10_000
) -> None:
    async def main() -> None:
        store = await EmbeddedMetadataStore.open(
            str(path), clock=clock or FakeClock(), history_revisions=history_revisions
        )
        try:
            await asyncio.wait_for(body(store), 10)
        finally:
            await store.close()

    asyncio.run(main())


def test_store_satisfies_protocol(tmp_path: Path) -> None:
    async def body(store: EmbeddedMetadataStore) -> None:
        typed: MetadataStore = store
        assert await typed.get(b"x") is None

    run_with_store(tmp_path, body)


def test_put_get_versions_and_revisions(backend: StoreBackend, tmp_path: Path) -> None:
    async def body(store: MetadataStore) -> None:
        base = store.revision  # embedded: 0; etcd: shared by every prefix
        kv1 = await store.put(b"/a", b"1")
        assert (kv1.create_revision, kv1.mod_revision, kv1.version, kv1.lease) == (base + 1, base + 1, 1, 0)
        kv2 = await store.put(b"/a", b"2")
        assert (kv2.create_revision, kv2.mod_revision, kv2.version) == (base + 1, base + 2, 2)
        assert await store.get(b"/a") == kv2
        assert await store.delete(b"/nothing") == 0
        assert store.revision == base + 2, "a delete that removes nothing does not bump the revision"
        assert await store.delete(b"/a") == 1
        kv3 = await store.put(b"/a", b"3")
        assert (kv3.create_revision, kv3.version) == (base + 4, 1), "a re-created key starts over"

    run_on(backend, tmp_path, body)


def test_range_prefix_and_delete_prefix(backend: StoreBackend, tmp_path: Path) -> None:
    async def body(store: MetadataStore) -> None:
        base = store.revision
        for key in [b"/t/b", b"/t/a", b"/u/a", b"/t"]:
            await store.put(key, key)
        result = await store.range(b"/t/")
        assert [kv.key for kv in result.kvs] == [b"/t/a", b"/t/b"]
        assert result.revision == base + 4
        assert len((await store.range(b"")).kvs) == 4
        assert await store.delete(b"/t/", prefix=True) == 2
        assert store.revision == base + 5, "one delete-prefix is one revision"
        assert [kv.key for kv in (await store.range(b"")).kvs] == [b"/t", b"/u/a"]

    run_on(backend, tmp_path, body)


def test_txn_cas_success_and_failure_branches(backend: StoreBackend, tmp_path: Path) -> None:
    async def body(store: MetadataStore) -> None:
        base = store.revision
        create = [Compare.absent(b"/k")]
        r1 = await store.txn(create, [Op.put(b"/k", b"v1")], [Op.get(b"/k")])
        assert r1.succeeded and r1.revision == base + 1
        r2 = await store.txn(create, [Op.put(b"/k", b"X")], [Op.get(b"/k")])
        assert not r2.succeeded and r2.revision == base + 1
        current = r2.responses[0].kvs[0]
        assert current.value == b"v1"
        r3 = await store.txn([Compare.unchanged(b"/k", current.mod_revision)], [Op.put(b"/k", b"v2")], [])
        assert r3.succeeded and r3.responses[0].prev_kvs[0].value == b"v1"
        r4 = await store.txn([Compare.unchanged(b"/k", current.mod_revision)], [Op.put(b"/k", b"v3")], [])
        assert not r4.succeeded and r4.responses == ()
        assert (await store.get(b"/k")).value == b"v2"  # type: ignore[union-attr]

    run_on(backend, tmp_path, body)


@pytest.mark.parametrize(
    ("compare", "expected"),
    [
        (Compare.value(b"/k", CompareResult.EQUAL, b"b"), True),
        (Compare.value(b"/k", CompareResult.NOT_EQUAL, b"b"), False),
        (Compare.value(b"/k", CompareResult.GREATER, b"a"), True),
        (Compare.value(b"/k", CompareResult.LESS, b"a"), False),
        (Compare.version(b"/k", CompareResult.EQUAL, 2), True),
        (Compare.version(b"/k", CompareResult.GREATER, 2), False),
        (Compare.version(b"/k", CompareResult.LESS, 3), True),
        (Compare.create_revision(b"/k", CompareResult.EQUAL, 1), True),
        (Compare.create_revision(b"/k", CompareResult.NOT_EQUAL, 1), False),
        (Compare.mod_revision(b"/k", CompareResult.EQUAL, 2), True),
        (Compare.mod_revision(b"/k", CompareResult.LESS, 2), False),
        (Compare.mod_revision(b"/k", CompareResult.GREATER, 1), True),
        (Compare.version(b"/missing", CompareResult.EQUAL, 0), True),
        (Compare.absent(b"/missing"), True),
        (Compare.mod_revision(b"/missing", CompareResult.EQUAL, 0), True),
        (Compare.value(b"/missing", CompareResult.EQUAL, b""), False),
        (Compare.value(b"/missing", CompareResult.NOT_EQUAL, b"x"), False),
    ],
)
def test_compare_targets(backend: StoreBackend, tmp_path: Path, compare: Compare, expected: bool) -> None:
    async def body(store: MetadataStore) -> None:
        base = store.revision
        await store.put(b"/k", b"a")
        await store.put(b"/k", b"b")
        # The revisions above count from an empty store; a backend's store may start later (etcd).
        revisions = (CompareTarget.CREATE_REVISION, CompareTarget.MOD_REVISION)
        rebased = compare
        if compare.target in revisions and isinstance(compare.operand, int) and compare.operand:
            rebased = dataclasses.replace(compare, operand=base + compare.operand)
        result = await store.txn([rebased], [Op.get(b"/k")], [])
        assert result.succeeded is expected

    run_on(backend, tmp_path, body)


def test_compare_operand_type_is_checked() -> None:
    with pytest.raises(TypeError):
        Compare.value(b"/k", CompareResult.EQUAL, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Compare.version(b"/k", CompareResult.EQUAL, b"1")  # type: ignore[arg-type]


def test_txn_ops_see_earlier_writes_and_are_one_revision(backend: StoreBackend, tmp_path: Path) -> None:
    async def body(store: MetadataStore) -> None:
        base = store.revision
        await store.put(b"/p/old", b"o")
        ops = [
            Op.put(b"/p/a", b"1"),
            Op.put(b"/p/b", b"2"),
            Op.delete(b"/p/old"),
            Op.get(b"/p/", prefix=True),
        ]
        result = await store.txn([], ops, [])
        assert result.revision == base + 2
        assert [kv.key for kv in result.responses[3].kvs] == [b"/p/a", b"/p/b"]
        assert result.responses[2].deleted == 1
        assert {kv.mod_revision for kv in (await store.range(b"/p/")).kvs} == {base + 2}
        noop = await store.txn([], [Op.put(b"/n", b"x"), Op.delete(b"/n")], [])
        assert noop.revision == base + 2, "put then delete of a new key changes nothing"
        twice = await store.txn([], [Op.put(b"/n", b"1"), Op.put(b"/n", b"2"), Op.get(b"/n")], [])
        assert twice.revision == base + 3, "a key put twice: one revision"
        assert [(kv.value, kv.version, kv.mod_revision) for kv in twice.responses[2].kvs] == [(b"2", 2, base + 3)]
        assert twice.responses[1].prev_kvs == twice.responses[0].kvs

    run_on(backend, tmp_path, body)


def test_watch_live_and_replay_from_revision(backend: StoreBackend, tmp_path: Path) -> None:
    async def body(store: MetadataStore) -> None:
        base = store.revision
        live = store.watch(b"/w/")
        await store.put(b"/w/a", b"1")
        await store.put(b"/other", b"x")
        await store.txn([], [Op.put(b"/w/a", b"2"), Op.put(b"/w/b", b"3")], [])
        await store.delete(b"/w/a")
        batches = [await next_batch(live) for _ in range(3)]
        assert [[(e.type, e.kv.key, e.kv.mod_revision) for e in b] for b in batches] == [
            [(EventType.PUT, b"/w/a", base + 1)],
            [(EventType.PUT, b"/w/a", base + 3), (EventType.PUT, b"/w/b", base + 3)],
            [(EventType.DELETE, b"/w/a", base + 4)],
        ]
        assert batches[1][0].prev_kv is not None and batches[1][0].prev_kv.value == b"1"
        assert batches[2][0].prev_kv is not None and batches[2][0].prev_kv.value == b"2"
        assert batches[2][0].kv.value == b"" and batches[2][0].kv.version == 0
        replay = store.watch(b"/w/", start_revision=base + 3)
        assert [e.revision for e in await next_batch(replay)] == [base + 3, base + 3]
        assert [e.revision for e in await next_batch(replay)] == [base + 4]
        await store.put(b"/w/c", b"4")
        assert [e.kv.key for e in await next_batch(replay)] == [b"/w/c"]
        await replay.aclose()
        await live.aclose()
        with pytest.raises(StopAsyncIteration):
            await replay.__anext__()

    run_on(backend, tmp_path, body)


def test_watch_compacted_revision_raises(tmp_path: Path) -> None:
    async def body(store: EmbeddedMetadataStore) -> None:
        for i in range(5):
            await store.put(b"/c", str(i).encode())
        assert store.compact_revision == 3
        with pytest.raises(CompactedError) as info:
            await next_batch(store.watch(b"/", start_revision=3))
        assert info.value.compact_revision == 3
        assert [e.revision for e in await next_batch(store.watch(b"/", start_revision=4))] == [4]

    run_with_store(tmp_path, body, history_revisions=2)


def test_watch_ends_when_store_closes(backend: StoreBackend, tmp_path: Path) -> None:
    async def main() -> None:
        store = await backend.open(tmp_path, FakeClock())
        watch = store.watch(b"")
        waiter = asyncio.ensure_future(watch.__anext__())
        await asyncio.sleep(0)
        await store.close()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(waiter, 2)
        with pytest.raises(StoreClosedError):
            await store.get(b"x")

    asyncio.run(main())


def test_lease_expiry_with_fake_clock_deletes_keys_and_emits_events(backend: StoreBackend, tmp_path: Path) -> None:
    clock = FakeClock()
    second = backend.lease_second

    async def body(store: MetadataStore) -> None:
        lease = await store.grant_lease(10 * second)
        other = await store.grant_lease(30 * second)
        await store.put(b"/brokers/1", b"b1", lease)
        await store.put(b"/brokers/2", b"b2", lease)
        await store.put(b"/brokers/3", b"b3", other)
        assert (await store.get(b"/brokers/1")).lease == lease  # type: ignore[union-attr]
        watch = store.watch(b"/brokers/")
        await backend.let_time_pass(store, clock, 9)
        assert await store.keepalive(lease) == pytest.approx(10 * second)
        await backend.let_time_pass(store, clock, 9)
        assert len((await store.range(b"/brokers/")).kvs) == 3, "kept alive 9 s ago: not expired yet"
        await backend.let_time_pass(store, clock, 2)
        events = await next_batch(watch)
        assert [(e.type, e.kv.key) for e in events] == [
            (EventType.DELETE, b"/brokers/1"),
            (EventType.DELETE, b"/brokers/2"),
        ]
        assert [kv.key for kv in (await store.range(b"/brokers/")).kvs] == [b"/brokers/3"]
        with pytest.raises(LeaseNotFoundError):
            await store.keepalive(lease)
        with pytest.raises(LeaseNotFoundError):
            await store.put(b"/x", b"y", lease)
        await store.revoke(other)
        assert [(e.type, e.kv.key) for e in await next_batch(watch)] == [(EventType.DELETE, b"/brokers/3")]
        with pytest.raises(LeaseNotFoundError):
            await store.revoke(other)

    run_on(backend, tmp_path, body, clock)


def test_put_without_lease_detaches_key(backend: StoreBackend, tmp_path: Path) -> None:
    clock = FakeClock()

    async def body(store: MetadataStore) -> None:
        lease = await store.grant_lease(5)
        await store.put(b"/k", b"leased", lease)
        await store.put(b"/k", b"plain")
        await store.revoke(lease)
        assert (await store.get(b"/k")).value == b"plain"  # type: ignore[union-attr]

    run_on(backend, tmp_path, body, clock)


def test_lease_timer_fires_on_the_real_clock(tmp_path: Path) -> None:
    async def main() -> None:
        store = await EmbeddedMetadataStore.open(str(tmp_path))
        try:
            watch = store.watch(b"/")
            lease = await store.grant_lease(0.05)
            await store.put(b"/eph", b"1", lease)
            assert (await next_batch(watch))[0].type is EventType.PUT
            events = await next_batch(watch)
            assert [(e.type, e.kv.key) for e in events] == [(EventType.DELETE, b"/eph")]
        finally:
            await store.close()

    asyncio.run(main())


def test_reopen_keeps_data_and_revision_and_drops_leased_keys(tmp_path: Path) -> None:
    async def main() -> None:
        store = await EmbeddedMetadataStore.open(str(tmp_path))
        lease = await store.grant_lease(100)
        await store.put(b"/keep", b"1")
        await store.put(b"/eph", b"2", lease)
        await store.delete(b"/nothing")
        await store.put(b"/keep", b"3")
        await store.close()
        store = await EmbeddedMetadataStore.open(str(tmp_path))
        try:
            assert store.revision == 4, "deleting the leased key is a new revision"
            assert await store.get(b"/eph") is None
            kv = await store.get(b"/keep")
            assert kv is not None
            assert (kv.value, kv.version, kv.create_revision, kv.mod_revision) == (b"3", 2, 1, 3)
            assert (await store.put(b"/new", b"n")).mod_revision == 5
        finally:
            await store.close()

    asyncio.run(main())


def test_snapshot_truncates_journal_and_reopens(tmp_path: Path) -> None:
    async def main() -> None:
        store = await EmbeddedMetadataStore.open(str(tmp_path), snapshot_every=10)
        for i in range(25):
            await store.put(b"/k/%d" % (i % 7), b"%d" % i)
        await store.close()
        assert (tmp_path / "snapshot").exists()
        journal = (tmp_path / "journal").read_bytes()
        assert len(list(read_frames(journal))) == 5, "only the entries after the last snapshot"
        store = await EmbeddedMetadataStore.open(str(tmp_path), snapshot_every=10)
        try:
            assert store.revision == 25
            assert store.compact_revision == 20
            assert [e.revision for e in await next_batch(store.watch(b"", start_revision=21))] == [21]
            assert (await store.get(b"/k/3")).value == b"24"  # type: ignore[union-attr]
        finally:
            await store.close()

    asyncio.run(main())


def test_second_open_of_the_same_folder_is_refused(tmp_path: Path) -> None:
    async def main() -> None:
        store = await EmbeddedMetadataStore.open(str(tmp_path))
        try:
            with pytest.raises(Exception, match="already open"):
                await EmbeddedMetadataStore.open(str(tmp_path))
        finally:
            await store.close()

    asyncio.run(main())


def test_prefix_end() -> None:
    assert prefix_end(b"/brokers/") == b"/brokers0"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"") == b"\0"


def test_cancelled_caller_does_not_interrupt_a_commit(backend: StoreBackend, tmp_path: Path) -> None:
    async def body(store: MetadataStore) -> None:
        base = store.revision
        watch = store.watch(b"/")
        for _ in range(5):
            task = asyncio.ensure_future(store.put(b"/k", b"v"))
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        batches = [await next_batch(watch) for _ in range(5)]
        assert [b[0].revision for b in batches] == [base + 1, base + 2, base + 3, base + 4, base + 5]
        assert (await store.put(b"/k2", b"x")).mod_revision == base + 6, "the store is still open and consistent"

    run_on(backend, tmp_path, body)
