"""The etcd store's own parts (on the session's etcd member): unknown outcomes resolved by reading what a txn wrote,
txns etcd refuses (duplicate key) planned locally, and the key prefix."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from etcd_support import etcd_missing, free_port
from metadata_testing import run
from odradek.broker.metadata.etcd import EtcdMetadataStore
from odradek.broker.metadata.etcd_client import EtcdError, EtcdUnavailableError, OutcomeUnknownError
from odradek.broker.metadata.store import Compare, CompareResult, LeaseNotFoundError, Op, TxnTooLargeError
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


def test_a_dead_endpoint_is_skipped_and_no_live_endpoint_is_an_error_within_the_deadline(tmp_path: Path) -> None:
    async def main() -> None:
        dead = f"http://127.0.0.1:{free_port()}"
        store = await EtcdMetadataStore.open([dead, *SESSION_ETCD.endpoints()], b"/etcd-dead-" + tmp_path.name.encode())
        try:
            assert (await store.put(b"/k", b"v")).value == b"v"
            assert store.endpoints[0] == dead
        finally:
            await store.close()
        started = time.monotonic()
        with pytest.raises(EtcdUnavailableError, match="no endpoint answered"):
            await EtcdMetadataStore.open([dead], operation_timeout_s=0.5)
        assert time.monotonic() - started < 2

    run(main())


def test_etcd_refusals_are_errors_not_retries(tmp_path: Path) -> None:
    async def main() -> None:
        store = await open_store(tmp_path)
        try:
            with pytest.raises(EtcdError, match="too large lease TTL"):
                await store.grant_lease(10**10)
            with pytest.raises(LeaseNotFoundError):
                await store.put(b"/k", b"v", lease=12345)
            with pytest.raises(LeaseNotFoundError):
                await store.revoke(12345)
            with pytest.raises(LeaseNotFoundError):
                await store.keepalive(12345)
        finally:
            await store.close()

    run(main())


def test_a_planned_txn_whose_keys_change_before_its_write_is_planned_again(tmp_path: Path) -> None:
    """Between the read a planned txn is based on and its write, another client changes a key it compared: the
    guarded write fails, the txn is planned again on the new state, and its compare now fails."""

    async def main() -> None:
        store = await open_store(tmp_path)
        try:
            await store.put(b"/g/a", b"1")
            real = store._client.call
            interleaved = False

            async def call(path: str, body: dict[str, Any], *, idempotent: bool) -> dict[str, Any]:
                nonlocal interleaved
                if path == "kv/txn" and not idempotent and not interleaved:
                    interleaved = True
                    await store.put(b"/g/a", b"2")  # someone else's write, just before the planned write
                reply: dict[str, Any] = await real(path, body, idempotent=idempotent)
                return reply

            store._client.call = call  # type: ignore[method-assign]
            compare = [Compare.value(b"/g/a", CompareResult.EQUAL, b"1")]
            result = await store.txn(compare, [Op.put(b"/g/b", b"x"), Op.put(b"/g/b", b"y")], [Op.get(b"/g/a")])
            assert interleaved
            assert not result.succeeded
            assert result.responses[0].kvs[0].value == b"2"
            assert await store.get(b"/g/b") is None
        finally:
            await store.close()

    run(main())


def test_a_txn_over_etcds_operation_limit_is_a_txn_too_large_error_and_writes_nothing(tmp_path: Path) -> None:
    """etcd refuses more than --max-txn-ops (128 by default, as the session's member runs) operations in one txn
    before applying any: the store reports TxnTooLargeError (the controller answers POLICY_VIOLATION), not a
    generic refusal, and none of the keys exist."""

    async def main() -> None:
        store = await open_store(tmp_path)
        try:
            ops = [Op.put(b"/big/%04d" % i, b"v") for i in range(200)]
            with pytest.raises(TxnTooLargeError, match="too many operations"):
                await store.txn([], ops, [])
            assert (await store.range(b"/big/")).kvs == ()
            assert (await store.txn([], ops[:100], [])).succeeded  # within the limit: written
        finally:
            await store.close()

    run(main())
