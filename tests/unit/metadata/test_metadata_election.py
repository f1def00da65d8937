"""ControllerElection: the /controller claim, the controller id, and the fence on every Controller write."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest
from metadata_testing import FakeClock, run
from odradek.broker.metadata.controller import Controller
from odradek.broker.metadata.election import NO_CONTROLLER, ControllerElection
from odradek.broker.metadata.embedded import EmbeddedMetadataStore
from odradek.broker.metadata.errors import ControllerError, ErrorCode
from odradek.broker.metadata.image import CONTROLLER_KEY, topic_key


async def registered_controller(store: EmbeddedMetadataStore, election: ControllerElection) -> Controller:
    controller = Controller(store, fence=election, rng=random.Random(0))
    await controller.register_broker(1, "127.0.0.1", 9092, lease_id=await store.grant_lease(600))
    return controller


def test_the_embedded_store_elects_this_broker_and_writes_pass_the_fence(tmp_path: Path) -> None:
    async def main() -> None:
        store = await EmbeddedMetadataStore.open(str(tmp_path), clock=FakeClock())
        election = ControllerElection(store, 1)
        await election.start()
        try:
            controller = await registered_controller(store, election)
            assert (election.is_controller, controller.controller_id) == (True, 1)
            claim = await store.get(CONTROLLER_KEY)
            assert claim is not None and json.loads(claim.value) == {"broker_id": 1}
            assert claim.lease == election.lease_id
            await controller.create_topic("t", 1, 1)
            assert await store.get(topic_key("t")) is not None
        finally:
            await election.stop()
            assert await store.get(CONTROLLER_KEY) is None  # giving up the claim deletes the key
            await store.close()

    run(main())


def test_a_controller_whose_claim_was_replaced_is_refused(tmp_path: Path) -> None:
    """A paused controller whose lease ran out and whose key another broker now holds must not write."""

    async def main() -> None:
        clock = FakeClock()
        store = await EmbeddedMetadataStore.open(str(tmp_path), clock=clock)
        election = ControllerElection(store, 1, ttl_s=5)
        await election.campaign()
        controller = await registered_controller(store, election)
        clock.advance(6)
        await store.expire_leases()  # the claim's lease ends: /controller is deleted
        successor = ControllerElection(store, 2, ttl_s=600)
        await successor.campaign()
        assert successor.is_controller
        with pytest.raises(ControllerError) as info:
            await controller.create_topic("late", 1, 1)
        assert info.value.error_code == ErrorCode.NOT_CONTROLLER
        assert await store.get(topic_key("late")) is None
        await successor.stop()
        await store.close()

    run(main())


def test_a_broker_that_loses_the_campaign_knows_the_controller_and_is_fenced(tmp_path: Path) -> None:
    async def main() -> None:
        store = await EmbeddedMetadataStore.open(str(tmp_path), clock=FakeClock())
        winner, loser = ControllerElection(store, 1), ControllerElection(store, 2)
        assert loser.controller_id == NO_CONTROLLER
        await winner.campaign()
        await loser.campaign()
        assert (loser.is_controller, loser.controller_id, loser.lease_id) == (False, 1, 0)
        controller = await registered_controller(store, loser)
        with pytest.raises(ControllerError) as info:
            await controller.create_topic("t", 1, 1)
        assert info.value.error_code == ErrorCode.NOT_CONTROLLER
        await winner.stop()
        with pytest.raises(ControllerError) as info:  # nobody holds the claim: no write goes through
            await controller.create_topic("t", 1, 1)
        assert info.value.error_code == ErrorCode.NOT_CONTROLLER
        await loser.campaign()  # the key is free again
        assert (loser.is_controller, loser.controller_id) == (True, 2)
        await controller.create_topic("t", 1, 1)
        await loser.stop()
        await store.close()

    run(main())


def test_reopening_the_embedded_store_frees_the_claim(tmp_path: Path) -> None:
    """Leases do not survive a reopen, so a crashed broker's claim never blocks its restart."""

    async def main() -> None:
        store = await EmbeddedMetadataStore.open(str(tmp_path), clock=FakeClock())
        await ControllerElection(store, 1).campaign()
        await store.close()
        store = await EmbeddedMetadataStore.open(str(tmp_path), clock=FakeClock())
        election = ControllerElection(store, 1)
        await election.campaign()
        assert election.is_controller
        await store.close()

    run(main())


def test_a_lost_claim_is_taken_again_under_a_new_lease_and_writes_resume(tmp_path: Path) -> None:
    async def main() -> None:
        clock = FakeClock()
        store = await EmbeddedMetadataStore.open(str(tmp_path), clock=clock)
        election = ControllerElection(store, 1, ttl_s=0.03)  # renewal tick every 10 ms (real time)
        await election.start()
        controller = await registered_controller(store, election)
        first = await store.get(CONTROLLER_KEY)
        assert first is not None
        clock.advance(1)
        await store.expire_leases()  # paused past the TTL: the claim is gone
        for _ in range(200):  # bounded: 2 s at most
            claim = await store.get(CONTROLLER_KEY)
            if claim is not None and election.is_controller:
                break
            await asyncio.sleep(0.01)
        assert claim is not None and claim.create_revision > first.create_revision
        assert claim.lease == election.lease_id != first.lease
        await controller.create_topic("after", 1, 1)
        await election.stop()
        await store.close()

    run(main())


def test_a_broker_campaigns_as_soon_as_the_claim_is_deleted_not_at_its_next_tick(tmp_path: Path) -> None:
    async def main() -> None:
        store = await EmbeddedMetadataStore.open(str(tmp_path), clock=FakeClock())
        holder = ControllerElection(store, 1, ttl_s=600)
        waiting = ControllerElection(store, 2, ttl_s=600)  # its renewal tick is 200 s away
        await holder.start()
        await waiting.start()
        assert not waiting.is_controller and waiting.controller_id == 1
        await holder.stop()  # revokes the claim's lease: /controller is deleted
        for _ in range(200):  # bounded: 2 s at most
            if waiting.is_controller:
                break
            await asyncio.sleep(0.01)
        assert waiting.is_controller and waiting.controller_id == 2
        await waiting.stop()
        await store.close()

    run(main())
