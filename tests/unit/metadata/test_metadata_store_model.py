"""Conformance: a Hypothesis state machine runs each MetadataStore backend against a dict model (puts, leased
puts, revokes, deletes, CAS, reopens, watch replays), checking revisions, KeyValues and events after every step."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from metadata_testing import FakeClock
from odradek.broker.metadata.store import Compare, EventType, KeyValue, MetadataStore, Op
from store_backends import StoreBackend

T = TypeVar("T")
Model = dict[bytes, KeyValue]

KEYS = st.sampled_from([b"/a", b"/a/1", b"/a/2", b"/b", b"/b/1", b"/c"])
PREFIXES = st.sampled_from([b"", b"/a", b"/a/", b"/b", b"/c", b"/z"])
VALUES = st.binary(max_size=8)


class StoreMachine(RuleBasedStateMachine):
    def __init__(self, backend: StoreBackend) -> None:
        super().__init__()
        self.backend = backend
        self.clock = FakeClock()
        self.loop = asyncio.new_event_loop()
        self.folder = Path(tempfile.mkdtemp(prefix="odradek-md-"))
        self.store: MetadataStore = self.run(backend.open(self.folder, self.clock))
        self.model: Model = {}
        # Revisions count from the store's at open: 0 for a fresh embedded store; etcd's is shared by prefixes.
        self.base = self.store.revision
        self.history: list[Model] = [{}]  # model after each revision from base on
        self.lease = 0

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coro, 10))

    def teardown(self) -> None:
        if self.lease:  # a lease left running (etcd) would expire during some later test, bumping its revisions
            self.run(self.store.revoke(self.lease))
        self.run(self.store.close())
        self.loop.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def revision(self) -> int:
        return self.base + len(self.history) - 1

    def commit(self, model: Model) -> None:
        self.model = model
        self.history.append(dict(model))

    def model_put(self, model: Model, key: bytes, value: bytes, lease: int = 0) -> None:
        prev = model.get(key)
        rev = self.revision + 1
        model[key] = KeyValue(
            key, value, prev.create_revision if prev else rev, rev, prev.version + 1 if prev else 1, lease
        )

    @rule(key=KEYS, value=VALUES)
    def put(self, key: bytes, value: bytes) -> None:
        kv = self.run(self.store.put(key, value))
        model = dict(self.model)
        self.model_put(model, key, value)
        assert kv == model[key]
        self.commit(model)

    @rule(key=KEYS, value=VALUES)
    def put_leased(self, key: bytes, value: bytes) -> None:
        if not self.lease:
            self.lease = self.run(self.store.grant_lease(1000))
        self.run(self.store.put(key, value, self.lease))
        model = dict(self.model)
        self.model_put(model, key, value, self.lease)
        self.commit(model)

    @precondition(lambda self: self.lease != 0)
    @rule()
    def revoke(self) -> None:
        self.run(self.store.revoke(self.lease))
        self.drop_lease_keys(self.lease)
        self.lease = 0

    def drop_lease_keys(self, lease: int) -> None:
        model = {k: kv for k, kv in self.model.items() if kv.lease != lease}
        if len(model) != len(self.model):
            self.commit(model)

    @rule(prefix=PREFIXES, as_prefix=st.booleans())
    def delete(self, prefix: bytes, as_prefix: bool) -> None:
        deleted = self.run(self.store.delete(prefix, prefix=as_prefix))
        gone = [k for k in self.model if (k.startswith(prefix) if as_prefix else k == prefix)]
        assert deleted == len(gone)
        if gone:
            self.commit({k: kv for k, kv in self.model.items() if k not in gone})

    @rule(key=KEYS, value=VALUES, stale=st.booleans(), other=KEYS)
    def cas(self, key: bytes, value: bytes, stale: bool, other: bytes) -> None:
        current = self.model.get(key)
        expected = (current.mod_revision if current else 0) + (1 if stale else 0)
        result = self.run(
            self.store.txn([Compare.unchanged(key, expected)], [Op.put(key, value), Op.delete(other)], [Op.get(key)])
        )
        assert result.succeeded is not stale
        if stale:
            assert result.responses[0].kvs == ((current,) if current else ())
            return
        model = dict(self.model)
        self.model_put(model, key, value)
        if other != key:
            model.pop(other, None)
        else:
            del model[key]
            if current is None:
                return  # put then delete of a new key: nothing committed
        self.commit(model)

    @rule()
    def reopen(self) -> None:
        self.run(self.store.close())
        self.store = self.run(self.backend.open(self.folder, self.clock))
        if self.lease and self.backend.reopen_ends_leases:
            self.drop_lease_keys(self.lease)
            self.lease = 0

    @rule(data=st.data())
    def watch_replay(self, data: st.DataObject) -> None:
        first = max(self.backend.oldest_watchable(self.store), self.base + 1)
        if first > self.revision:
            return
        # Drawn relative to base, so that the same example draws the same whatever etcd's revision is.
        start = self.base + data.draw(st.integers(first - self.base, self.revision - self.base))
        state = dict(self.history[start - 1 - self.base])
        watch = self.store.watch(b"", start_revision=start)
        for rev in range(start, self.revision + 1):
            batch = self.run(anext(watch))
            assert {e.revision for e in batch} == {rev}
            for event in batch:
                assert event.prev_kv == state.get(event.kv.key)
                if event.type is EventType.PUT:
                    state[event.kv.key] = event.kv
                else:
                    del state[event.kv.key]
        self.run(watch.aclose())
        assert state == self.model

    @invariant()
    def same_as_model(self) -> None:
        assert self.store.revision == self.revision
        kvs = self.run(self.store.range(b"")).kvs
        assert {kv.key: kv for kv in kvs} == self.model
        assert [kv.key for kv in kvs] == sorted(self.model)


def test_store_against_model(backend: StoreBackend) -> None:
    run_state_machine_as_test(
        lambda: StoreMachine(backend), settings=settings(max_examples=60, stateful_step_count=30, deadline=None)
    )
