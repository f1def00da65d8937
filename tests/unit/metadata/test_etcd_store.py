"""The etcd store's own parts (on the session's etcd member): unknown outcomes resolved by reading what a txn wrote,
txns etcd refuses (duplicate key) planned locally, and the key prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from etcd_support import etcd_missing
from metadata_testing import run
from odradek.broker.metadata.etcd import EtcdMetadataStore
from odradek.broker.metadata.etcd_client import OutcomeUnknownError
from odradek.broker.metadata.store import Compare, Op
from store_backends import SESSION_ETCD

pytestmark = pytest.mark.skipif(etcd_missing() is not None, reason=str(etcd_missing()))


async def open_store(tmp_path: Path) -> EtcdMetadataStore:
    return await EtcdMetadataStore.open(SESSION_ETCD.endpoints(), b"/etcd-store-" + tmp_path.name.encode())


class LoseReplies:
    """Wraps the client's ``call``: the first ``count`` txns are sent (``apply``) or not, then reported unknown."""

    def __init__(self, store: EtcdMetadataStore, count: int, apply: bool) -> None:
        self.real = store._client.call
        self.count = count
        self.apply = apply
        self.sent = 0
        store._client.call = self  # type: ignore[method-assign]

    async def __call__(self, path: str, body: dict[str, Any], *, idempotent: bool) -> dict[str, Any]:
        if path == "kv/txn" and not idempotent and self.count > 0:
            self.count -= 1
            if self.apply:
                await self.real(path, body, idempotent=idempotent)
                self.sent += 1
            raise OutcomeUnknownError("reply lost (test)")
        reply: dict[str, Any] = await self.real(path, body, idempotent=idempotent)
        return reply


@pytest.mark.parametrize("applied", [True, False], ids=["committed", "not-committed"])
def test_a_cas_whose_reply_was_lost_is_reported_once_with_its_responses(tmp_path: Path, applied: bool) -> None:
    async def main() -> None:
        store = await open_store(tmp_path)
        try:
            old = await store.put(b"/k", b"v1")
            lose = LoseReplies(store, 1, applied)
            result = await store.txn([Compare.unchanged(b"/k", old.mod_revision)], [Op.put(b"/k", b"v2")], [])
            assert result.succeeded, "our own committed write is not a conflict"
            assert result.revision == old.mod_revision + 1
            assert result.responses[0].prev_kvs == (old,)
            assert result.responses[0].kvs[0].version == 2
            now = await store.get(b"/k")
            assert now is not None and (now.value, now.version, now.mod_revision) == (b"v2", 2, result.revision)
            assert lose.sent == int(applied)
        finally:
            await store.close()

    run(main())


def test_a_conflict_after_a_lost_reply_is_still_a_conflict(tmp_path: Path) -> None:
    async def main() -> None:
        store = await open_store(tmp_path)
        try:
            old = await store.put(b"/k", b"v1")
            await store.put(b"/k", b"other")  # someone else's write: the CAS below must fail
            LoseReplies(store, 1, apply=True)
            result = await store.txn([Compare.unchanged(b"/k", old.mod_revision)], [Op.put(b"/k", b"v2")], [])
            assert not result.succeeded
            assert (await store.get(b"/k")).value == b"other"  # type: ignore[union-attr]
        finally:
            await store.close()

    run(main())


def test_a_txn_etcd_refuses_is_planned_and_guarded(tmp_path: Path) -> None:
    async def main() -> None:
        store = await open_store(tmp_path)
        try:
            await store.put(b"/d/1", b"x")
            await store.put(b"/d/2", b"y")
            ops = [Op.delete(b"/d/", prefix=True), Op.put(b"/d/2", b"z"), Op.put(b"/d/2", b"w")]
            result = await store.txn([], ops, [])
            assert result.succeeded and result.responses[0].deleted == 2
            assert [(kv.key, kv.value, kv.version) for kv in (await store.range(b"/d/")).kvs] == [(b"/d/2", b"w", 2)]
            assert result.revision == store.revision
        finally:
            await store.close()

    run(main())
