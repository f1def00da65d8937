"""keep_lease_alive: a held lease is renewed; a lost one is re-acquired with a warning; holding none (lease id 0, a
broker that is not the controller) only tries to acquire, without a keepalive and without a warning."""

from __future__ import annotations

import asyncio
import logging

import pytest
from odradek.broker.metadata.lease import keep_lease_alive, revoke_at_shutdown
from odradek.broker.metadata.store import LeaseNotFoundError, MetadataStoreError


class FakeStore:
    def __init__(self, live: set[int]) -> None:
        self.live = live
        self.keepalives: list[int] = []

    async def keepalive(self, lease_id: int) -> None:
        self.keepalives.append(lease_id)
        if lease_id not in self.live:
            raise LeaseNotFoundError(lease_id)


def run_ticks(store: FakeStore, held: list[int], ticks: int) -> int:
    """Runs the loop for about `ticks` intervals; returns how often reacquire was called."""
    calls = [0]

    async def reacquire() -> None:
        calls[0] += 1

    async def main() -> None:
        task = asyncio.create_task(
            keep_lease_alive(store, 3.0, lambda: held[0], reacquire, "test", interval_s=0.01)  # type: ignore[arg-type]
        )
        await asyncio.sleep(0.01 * ticks + 0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    return calls[0]


def test_a_held_lease_is_renewed_and_nothing_is_reacquired() -> None:
    store = FakeStore({7})
    assert run_ticks(store, [7], 5) == 0
    assert store.keepalives and set(store.keepalives) == {7}


def test_a_lost_lease_is_reacquired_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    store = FakeStore(set())
    with caplog.at_level(logging.WARNING, logger="odradek.broker.metadata.lease"):
        assert run_ticks(store, [7], 5) >= 1
    assert "lease 7 lost" in caplog.text


def test_holding_no_lease_only_tries_to_acquire_quietly(caplog: pytest.LogCaptureFixture) -> None:
    store = FakeStore(set())
    with caplog.at_level(logging.WARNING, logger="odradek.broker.metadata.lease"):
        assert run_ticks(store, [0], 5) >= 1
    assert store.keepalives == [], "no keepalive for lease 0"
    assert "lost" not in caplog.text


class RevokingStore:
    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.revoked: list[int] = []

    async def revoke(self, lease_id: int) -> None:
        if self.answer == "hang":
            await asyncio.Event().wait()
        if self.answer == "error":
            raise MetadataStoreError("no endpoint answered in time")
        self.revoked.append(lease_id)


@pytest.mark.parametrize(("answer", "revoked"), [("ok", True), ("error", False), ("hang", False)])
def test_a_revoke_at_shutdown_is_bounded(answer: str, revoked: bool) -> None:
    store = RevokingStore(answer)

    async def main() -> bool:
        return await asyncio.wait_for(revoke_at_shutdown(store, 7, timeout_s=0.05), 5)  # type: ignore[arg-type]

    assert asyncio.run(main()) is revoked
    assert store.revoked == ([7] if revoked else [])
