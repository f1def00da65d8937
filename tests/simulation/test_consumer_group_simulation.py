"""Seeded simulation of KIP-848 consumer groups: the real GroupCoordinator over an in-memory __consumer_offsets and
a MockTime, driven by simulated consumers that join, heartbeat in a random order, take and give up partitions as
their heartbeat answers say (as librdkafka does), leave, crash (go silent until their session ends) or rejoin,
while partitions are added to the topic and the coordinator is reloaded from its records.

Invariants, checked after every event (a failure names the seed, the step and the recent events):
- no partition is ever held by two live consumers at once (a consumer holds what its last answered assignment
  gave it; one not answered for its rebalance timeout (30 s here, below the 45 s session timeout), crashed or
  stalled, holds nothing: the coordinator may have removed it (session ended, or a revocation it owed not
  acknowledged in time) and its next heartbeat is fenced, which is all Kafka's protocol promises too; likewise
  one that has not given up what it was told to within the rebalance timeout since its assignment last changed
  holds nothing);
- a member's epoch never decreases while it stays in the group;
- the coordinator's own view has each partition owned at most once (its assertion) and owners that are members;
- at the end, after every live consumer heartbeats a few rounds, every partition is held by exactly one of them.
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
from odradek.broker.group.consumer_group_manager import ConsumerHeartbeat
from odradek.broker.group.coordinator import GroupConfig, GroupCoordinator
from odradek.broker.protocol.errors import ErrorCode
from odradek.broker.utils.time import MockTime

SEEDS = int(os.environ.get("ODRADEK_SIM_SEEDS", "30"))
STEPS = 250
TOPIC_ID = str(uuid.UUID(int=42))
SESSION_MS = 45_000
REBALANCE_MS = 30_000
CONFIG = GroupConfig(consumer_session_timeout_ms=SESSION_MS)


@dataclass
class Consumer:
    name: str
    assignor: str | None
    member_id: str = ""
    epoch: int = 0
    held: set[int] = field(default_factory=set)
    joined: bool = False
    crashed_at: float | None = None
    last_ok: float = 0.0
    revoking: set[int] = field(default_factory=set)  # told to give up, still processing (revoke callback pending)
    revoke_since: float = 0.0  # when it was first told to give up what `revoking` holds
    incarnation: int = 0
    given: set[int] = field(default_factory=set)  # the last assignment it was given


class Simulation:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.time = MockTime()
        self.storage = InMemoryCoordinatorLog()
        self.partitions = self.rng.randint(3, 8)
        self.consumers = [Consumer(f"c{i}", self.rng.choice([None, "uniform", "range"])) for i in range(4)]
        self.events: deque[str] = deque(maxlen=30)
        self.epochs: dict[str, int] = {}
        self.coordinator: GroupCoordinator | None = None
        self.settling = False  # the quiet end: revocation callbacks finish before the next heartbeat

    def topics(self) -> dict[str, tuple[str, int]]:
        return {"t": (TOPIC_ID, self.partitions)}

    async def start(self) -> None:
        self.coordinator = GroupCoordinator(CONFIG, self.storage, lambda: 1, self.time, self.topics)
        self.coordinator.on_elected(0, 0)
        await self.coordinator.wait_loaded()

    def fail(self, step: int, why: str) -> None:
        raise AssertionError(f"seed {self.seed} step {step}: {why}\nrecent events:\n" + "\n".join(self.events))

    async def heartbeat(self, consumer: Consumer) -> None:
        assert self.coordinator is not None
        joining = not consumer.joined
        if joining and not consumer.member_id:
            # KIP-1082: the client names itself (deterministic here, so that a seed replays exactly)
            consumer.incarnation += 1
            consumer.member_id = f"{consumer.name}-{consumer.incarnation}"
        if consumer.revoking and (self.settling or self.rng.random() < 0.5):
            # the revocation callback finished (commit done): the partitions are given up before this heartbeat
            consumer.held -= consumer.revoking
            consumer.revoking.clear()
            consumer.given = set()
        request = ConsumerHeartbeat(
            "g",
            consumer.member_id,
            0 if joining else consumer.epoch,
            rebalance_timeout_ms=REBALANCE_MS if joining else -1,
            subscribed_topic_names=("t",) if joining else None,
            server_assignor=consumer.assignor if joining else None,
            owned={} if joining else {TOPIC_ID: frozenset(consumer.held)} if consumer.held else {},
        )
        result = await self.coordinator.consumer_group_heartbeat(request)
        given = None if result.assignment is None else sorted(result.assignment.get(TOPIC_ID, ()))
        self.events.append(
            f"{consumer.name} hb epoch {request.member_epoch} -> {result.error.name} {result.member_epoch} {given}"
        )
        if result.error in (ErrorCode.FENCED_MEMBER_EPOCH, ErrorCode.UNKNOWN_MEMBER_ID, ErrorCode.GROUP_ID_NOT_FOUND):
            consumer.held.clear()  # librdkafka drops its partitions and rejoins
            consumer.revoking.clear()
            consumer.given = set()
            consumer.joined = False
            return
        assert result.error is ErrorCode.NONE, result
        consumer.last_ok = self.time.monotonic_ms()
        consumer.joined = True
        consumer.member_id = result.member_id or consumer.member_id
        consumer.epoch = result.member_epoch
        if result.assignment is not None:
            # New partitions are taken at once; revoked ones are held until the revocation callback finishes.
            given = set(result.assignment.get(TOPIC_ID, frozenset()))
            if given != consumer.given:
                # a changed assignment restarts the member's rebalance timeout at the coordinator
                consumer.revoke_since = self.time.monotonic_ms()
                consumer.given = given
            consumer.revoking = (consumer.held - given) | (consumer.revoking - given)
            consumer.held = given | consumer.revoking

    async def leave(self, consumer: Consumer) -> None:
        assert self.coordinator is not None
        result = await self.coordinator.consumer_group_heartbeat(ConsumerHeartbeat("g", consumer.member_id, -1))
        self.events.append(f"{consumer.name} leaves -> {result.error.name}")
        consumer.held.clear()
        consumer.revoking.clear()
        consumer.given = set()
        consumer.joined = False
        consumer.member_id = ""
        self.epochs.pop(consumer.name, None)

    def check(self, step: int) -> None:
        assert self.coordinator is not None
        seen: dict[int, str] = {}
        for c in self.consumers:
            if self.time.monotonic_ms() >= c.last_ok + min(SESSION_MS, REBALANCE_MS):
                continue  # its session is over: the coordinator may give its partitions away
            held = c.held
            if c.revoking and self.time.monotonic_ms() >= c.revoke_since + REBALANCE_MS:
                held = set()  # it did not revoke within its rebalance timeout: the coordinator fences it
            for p in held:
                if p in seen:
                    self.fail(step, f"partition {p} held by {seen[p]} and {c.name}")
                seen[p] = c.name
        shard = self.coordinator._shard("g")
        group = shard.consumer_groups.groups.get("g")
        if group is None:
            return
        for member_id, member in group.members.items():
            before = self.epochs.get(member_id)
            if before is not None and member.member_epoch < before and member.member_epoch != -2:
                self.fail(step, f"epoch of {member_id} went from {before} to {member.member_epoch}")
            self.epochs[member_id] = member.member_epoch
        for owner in group.owner.values():
            if owner not in group.members:
                self.fail(step, f"owner {owner} is not a member")

    async def run(self) -> None:
        await self.start()
        for step in range(STEPS):
            live = [c for c in self.consumers if c.crashed_at is None]
            action = self.rng.random()
            if action < 0.70 and live:
                await self.heartbeat(self.rng.choice(live))
            elif action < 0.76 and live:
                joined = [c for c in live if c.joined]
                if joined:
                    await self.leave(self.rng.choice(joined))
            elif action < 0.80 and len(live) > 1:
                victim = self.rng.choice(live)
                victim.crashed_at = self.time.monotonic_ms()
                self.events.append(f"{victim.name} crashes")
            elif action < 0.84:
                for c in self.consumers:
                    if c.crashed_at is not None and self.time.monotonic_ms() >= c.crashed_at + SESSION_MS:
                        c.crashed_at, c.held, c.joined, c.member_id = None, set(), False, ""
                        c.revoking = set()
                        c.given = set()
                        self.events.append(f"{c.name} restarts")
            elif action < 0.86 and self.partitions < 12:
                self.partitions += 1
                self.events.append(f"partitions -> {self.partitions}")
            elif action < 0.88:
                assert self.coordinator is not None
                self.coordinator.close()
                await self.start()
                self.epochs.clear()
                self.events.append("coordinator reloaded")
            else:
                ms = self.rng.choice([100, 1000, 5000, 20_000, 46_000])
                self.time.advance(ms)
                self.events.append(f"time +{ms}")
            await asyncio.sleep(0)
            self.check(step)
        # Quiet end: every consumer is alive and heartbeats until the group settles.
        for c in self.consumers:
            if c.crashed_at is not None:
                c.crashed_at, c.held, c.joined, c.member_id = None, set(), False, ""
                c.revoking = set()
                c.given = set()
        self.time.advance(SESSION_MS + 1)  # sessions of members nobody drives any more end
        await asyncio.sleep(0)
        self.settling = True
        for _ in range(10):
            for c in self.consumers:
                await self.heartbeat(c)
                self.check(STEPS)
        held = sorted(p for c in self.consumers for p in c.held)
        if held != list(range(self.partitions)):
            self.fail(STEPS, f"after settling the partitions held are {held}, not 0..{self.partitions - 1}")
        assert self.coordinator is not None
        self.coordinator.close()


@pytest.mark.parametrize("seed", range(SEEDS))
async def test_no_partition_is_held_twice_and_the_group_converges(seed: int) -> None:
    await Simulation(seed).run()
