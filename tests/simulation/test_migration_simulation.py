"""Seeded simulation of a group under online migration (KIP-848): the real GroupCoordinator over an in-memory
__consumer_offsets and a MockTime. A stable classic group of two classic consumers is upgraded by a consumer-protocol
member's first heartbeat; then, in a random order, classic consumers (eager: they drop everything when told to
rejoin; cooperative: they report what they own and drop what SyncGroup no longer gives) and consumer-protocol
consumers heartbeat, rejoin, leave, restart with the other protocol (a rolling migration), go silent past their
session, while the coordinator is reloaded from its records. The policy is `upgrade`, so the group stays a
consumer group (the downgrade is tested in tests/unit/group/test_consumer_group_online_migration.py and end to
end); a step that would leave it empty is skipped.

Invariants, checked after every event (a failure names the seed, the step and the recent events):
- no partition is held by two consumers at once (a consumer holds what its last answer gave it; one without an
  answer for its session timeout (10 s classic), or its rebalance timeout (30 s, consumer protocol: a revocation
  not acknowledged in time fences it), may have been removed and holds nothing);
- the coordinator's owners are members, each partition owned once (its own assertion);
- at the end, after every consumer acted a few rounds, every partition is held by exactly one of them.
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections import deque
from dataclasses import dataclass, field

import pytest
from odradek.broker.coordinator.memory import InMemoryCoordinatorLog
from odradek.broker.group.config import ConsumerGroupMigrationPolicy
from odradek.broker.group.consumer_group_conversion import decode_assignment
from odradek.broker.group.consumer_group_manager import ConsumerHeartbeat
from odradek.broker.group.coordinator import GroupConfig, GroupCoordinator, JoinRequest, LeaveMember
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.protocol.messages import consumer_protocol_subscription as cps
from odradek.broker.utils.time import MockTime

SEEDS = int(os.environ.get("ODRADEK_SIM_SEEDS", "30"))
STEPS = 250
TOPIC_ID = str(uuid.UUID(int=43))
PARTITIONS = 6
CLASSIC_SESSION_MS = 10_000
SESSION_MS = 45_000
REBALANCE_MS = 30_000
CONFIG = GroupConfig(
    consumer_session_timeout_ms=SESSION_MS,
    consumer_migration_policy=ConsumerGroupMigrationPolicy.UPGRADE,
    initial_rebalance_delay_ms=0,
)
E = ErrorCode


def subscription(owned: set[int]) -> bytes:
    body = cps.ConsumerProtocolSubscription(
        topics=["t"], owned_partitions=[cps.TopicPartition(topic="t", partitions=sorted(owned))] if owned else []
    )
    out = bytearray((1).to_bytes(2, "big"))
    cps.encode(out, body, 1)
    return bytes(out)


@dataclass
class Consumer:
    name: str
    classic: bool
    eager: bool
    member_id: str = ""
    epoch: int = 0  # the member epoch, or a classic member's generation
    joined: bool = False
    rejoin: bool = False  # a classic member told REBALANCE_IN_PROGRESS
    held: set[int] = field(default_factory=set)
    last_ok: float = 0.0
    incarnation: int = 0

    def trusted_ms(self) -> int:
        """How long after its last answer what it holds is its own: a classic member's session (its rebalance
        timeout is longer); a consumer-protocol member's rebalance timeout (a revocation it did not acknowledge in
        time fences it) or session, the shorter."""
        return CLASSIC_SESSION_MS if self.classic else min(SESSION_MS, REBALANCE_MS)

    def reset(self) -> None:
        self.member_id, self.epoch, self.joined, self.rejoin, self.held = "", 0, False, False, set()


class Simulation:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.time = MockTime()
        self.storage = InMemoryCoordinatorLog()
        self.consumers = [Consumer(f"c{i}", classic=i < 2, eager=self.rng.random() < 0.5) for i in range(4)]
        self.events: deque[str] = deque(maxlen=40)
        self.coordinator: GroupCoordinator | None = None

    @property
    def c(self) -> GroupCoordinator:
        assert self.coordinator is not None
        return self.coordinator

    async def start(self) -> None:
        self.coordinator = GroupCoordinator(
            CONFIG, self.storage, lambda: 1, self.time, lambda: {"t": (TOPIC_ID, PARTITIONS)}
        )
        self.coordinator.on_elected(0, 0)
        await self.coordinator.wait_loaded()

    def fail(self, step: int, why: str) -> None:
        raise AssertionError(f"seed {self.seed} step {step}: {why}\nrecent events:\n" + "\n".join(self.events))

    def join_request(self, consumer: Consumer) -> JoinRequest:
        owned = set() if consumer.eager else consumer.held
        return JoinRequest(
            "g",
            consumer.member_id,
            None,
            consumer.name,
            "/h",
            CLASSIC_SESSION_MS,
            REBALANCE_MS,
            "consumer",
            [("range", subscription(owned))],
        )

    async def classic_group(self) -> None:
        """The two classic consumers form a classic group (generation 1, 3 partitions each)."""
        first, second = self.consumers[:2]
        tasks = []
        for consumer in (first, second):
            answer = await self.c.join_group(self.join_request(consumer))
            consumer.member_id = answer.member_id
            tasks.append(asyncio.create_task(self.c.join_group(self.join_request(consumer))))
        for _ in range(5):
            await asyncio.sleep(0)
        self.time.advance(1)
        joined = [await t for t in tasks]
        plan = {joined[0].member_id: [0, 1, 2], joined[1].member_id: [3, 4, 5]}
        leader = next(j for j in joined if j.member_id == j.leader)
        from odradek.broker.group.consumer_group_conversion import encode_assignment

        given = [
            (m, encode_assignment({TOPIC_ID: frozenset(p)}, {"t": (TOPIC_ID, PARTITIONS)}, 1)) for m, p in plan.items()
        ]
        syncs = [
            asyncio.create_task(
                self.c.sync_group("g", 1, j.member_id, None, "consumer", "range", given if j is leader else [])
            )
            for j in joined
        ]
        for consumer, sync in zip((first, second), syncs, strict=True):
            assert (await sync).error is E.NONE
            consumer.joined, consumer.epoch, consumer.held = True, 1, set(plan[consumer.member_id])
            consumer.last_ok = self.time.monotonic_ms()

    # ---- consumer behaviour -----------------------------------------------------------------------------

    async def act(self, consumer: Consumer) -> None:
        if consumer.classic:
            await (self.classic_join(consumer) if not consumer.joined or consumer.rejoin else self.classic_hb(consumer))
        else:
            await self.heartbeat(consumer)

    def lost(self, consumer: Consumer, why: str) -> None:
        self.events.append(f"{consumer.name} lost its membership: {why}")
        consumer.reset()

    async def classic_hb(self, consumer: Consumer) -> None:
        error = self.c.heartbeat("g", consumer.member_id, None, consumer.epoch)
        self.events.append(f"{consumer.name} classic hb gen {consumer.epoch} -> {error.name}")
        if error is E.REBALANCE_IN_PROGRESS:
            consumer.last_ok = self.time.monotonic_ms()
            consumer.rejoin = True
            if consumer.eager:
                consumer.held = set()  # eager: revoke everything before rejoining
        elif error is E.NONE:
            consumer.last_ok = self.time.monotonic_ms()
        else:
            self.lost(consumer, error.name)

    async def classic_join(self, consumer: Consumer) -> None:
        if consumer.eager:
            consumer.held = set()
        answer = await self.c.join_group(self.join_request(consumer))
        if answer.error is E.MEMBER_ID_REQUIRED:
            consumer.member_id = answer.member_id
            answer = await self.c.join_group(self.join_request(consumer))
        self.events.append(f"{consumer.name} classic join -> {answer.error.name} gen {answer.generation_id}")
        if answer.error is not E.NONE:
            self.lost(consumer, answer.error.name)
            return
        consumer.member_id, consumer.epoch = answer.member_id, answer.generation_id
        synced = await self.c.sync_group("g", answer.generation_id, consumer.member_id, None, "consumer", "range", [])
        self.events.append(f"{consumer.name} classic sync -> {synced.error.name}")
        if synced.error is E.REBALANCE_IN_PROGRESS:
            consumer.rejoin = True
            return
        if synced.error is not E.NONE:
            self.lost(consumer, synced.error.name)
            return
        consumer.joined, consumer.rejoin = True, False
        consumer.held = set(decode_assignment(synced.assignment, {"t": (TOPIC_ID, PARTITIONS)}).get(TOPIC_ID, ()))
        consumer.last_ok = self.time.monotonic_ms()
        self.events.append(f"{consumer.name} holds {sorted(consumer.held)}")

    async def heartbeat(self, consumer: Consumer) -> None:
        joining = not consumer.joined
        if joining:
            consumer.incarnation += 1
            consumer.member_id = f"{consumer.name}-{consumer.incarnation}"
        request = ConsumerHeartbeat(
            "g",
            consumer.member_id,
            0 if joining else consumer.epoch,
            rebalance_timeout_ms=REBALANCE_MS if joining else -1,
            subscribed_topic_names=("t",) if joining else None,
            owned={} if joining else ({TOPIC_ID: frozenset(consumer.held)} if consumer.held else {}),
        )
        result = await self.c.consumer_group_heartbeat(request)
        given = None if result.assignment is None else sorted(result.assignment.get(TOPIC_ID, ()))
        self.events.append(
            f"{consumer.name} hb {request.member_epoch} -> {result.error.name} {result.member_epoch} {given}"
        )
        if result.error is not E.NONE:
            self.lost(consumer, result.error.name)
            return
        consumer.joined, consumer.epoch = True, result.member_epoch
        consumer.last_ok = self.time.monotonic_ms()
        if result.assignment is not None:
            consumer.held = set(result.assignment.get(TOPIC_ID, frozenset()))  # revoked at once

    async def leave(self, consumer: Consumer) -> None:
        if consumer.classic:
            self.c.leave_group("g", [LeaveMember(consumer.member_id, None)])
        else:
            await self.c.consumer_group_heartbeat(ConsumerHeartbeat("g", consumer.member_id, -1))
        self.events.append(f"{consumer.name} leaves")
        consumer.reset()

    # ---- invariants -------------------------------------------------------------------------------------

    def check(self, step: int) -> None:
        seen: dict[int, str] = {}
        now = self.time.monotonic_ms()
        for consumer in self.consumers:
            if now >= consumer.last_ok + consumer.trusted_ms():
                continue  # its session may be over: the coordinator may give its partitions away
            for p in consumer.held:
                if p in seen:
                    self.fail(step, f"partition {p} held by {seen[p]} and {consumer.name}")
                seen[p] = consumer.name
        group = self.c._shard("g").consumer_groups.groups.get("g")
        if group is not None:
            for owner in group.owner.values():
                if owner not in group.members:
                    self.fail(step, f"owner {owner} is not a member")

    def members(self) -> int:
        group = self.c._shard("g").consumer_groups.groups.get("g")
        return 0 if group is None else len(group.members)

    async def run(self) -> None:
        await self.start()
        await self.classic_group()
        await self.heartbeat(self.consumers[2])  # the upgrade
        if self.c.group("g") is not None:
            self.fail(0, "the classic group was not upgraded")
        for step in range(STEPS):
            if self.members() == 0:
                # every member's session ended: a classic JoinGroup would now make a classic group (and park)
                self.events.append("the group emptied: the simulation ends here")
                break
            consumer = self.rng.choice(self.consumers)
            action = self.rng.random()
            if action < 0.70:
                await self.act(consumer)
            elif action < 0.78 and consumer.joined and self.members() > 1:
                await self.leave(consumer)
                if self.rng.random() < 0.5:  # it restarts with the other protocol
                    consumer.classic = not consumer.classic
                    self.events.append(f"{consumer.name} now speaks {'classic' if consumer.classic else 'consumer'}")
            elif action < 0.82:
                self.c.close()
                await self.start()
                self.events.append("coordinator reloaded")
            else:
                ms = self.rng.choice([100, 500, 1000, 3000, 3000, 11_000])
                self.time.advance(ms)
                self.events.append(f"time +{ms}")
            await asyncio.sleep(0)
            if self.c.group("g") is not None:
                self.fail(step, "the group became a classic group although it was never empty")
            self.check(step)
        else:
            await self.settle()
        self.c.close()

    async def settle(self) -> None:
        """Every consumer acts a few rounds, no time passing: the group converges."""
        for _ in range(12):
            for consumer in self.consumers:
                await self.act(consumer)
                self.check(STEPS)
        held = sorted(p for c in self.consumers for p in c.held)
        if held != list(range(PARTITIONS)):
            self.fail(STEPS, f"after settling the partitions held are {held}, not 0..{PARTITIONS - 1}")


@pytest.mark.parametrize("seed", range(SEEDS))
async def test_a_migrating_group_never_holds_a_partition_twice_and_converges(seed: int) -> None:
    await Simulation(seed).run()
