"""``ControllerElection``: which broker is the controller, and the fence every controller write carries.

The controller holds ``/controller`` (``{"broker_id": N}``) under a lease of its own. Claiming it is one
transaction, ``create_revision(/controller) == 0`` then put; the claim's revision is the key's create_revision,
and ``compares()`` returns ``create_revision(/controller) == <that revision>`` for ``Controller`` to add to every
write. A new claim (this broker's after a lost lease, or another broker's) has a new create_revision, so a
controller that was paused past its lease and still believes it holds it has its writes refused
(NOT_CONTROLLER) instead of overwriting its successor's (DESIGN.md section 2).

With the embedded store the claim always succeeds: the store is this process's, and it drops every leased key
when it opens, so no earlier claim survives a restart. With etcd another broker may hold the key; this broker
then knows the controller's id and tries again whenever its renewal tick finds it holds no lease (a watch on
the key makes it campaign as soon as the claim is deleted: its holder stopped or its lease expired).
Campaigns never run concurrently (a lock), so the renewal tick and the watch cannot clobber each other's claim.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence

from odradek.broker.metadata.image import CONTROLLER_KEY
from odradek.broker.metadata.lease import keep_lease_alive, revoke_at_shutdown
from odradek.broker.metadata.store import (
    CompactedError,
    Compare,
    CompareResult,
    EventType,
    MetadataStore,
    MetadataStoreError,
    Op,
    StoreClosedError,
)

__all__ = ["NO_CONTROLLER", "ControllerElection"]

log = logging.getLogger(__name__)

NO_CONTROLLER = -1  # Kafka's controller id when none is known
_NEVER = -1  # a create_revision no key has: the compare fails whoever holds the key


class ControllerElection:
    """Call ``await start()`` once, ``await stop()`` at shutdown; ``controller_id`` and ``compares()`` any time."""

    def __init__(
        self, store: MetadataStore, broker_id: int, ttl_s: float = 10.0, interval_s: float | None = None
    ) -> None:
        self._store = store
        self.broker_id = broker_id
        self.ttl_s = ttl_s
        self.interval_s = interval_s
        self.lease_id = 0
        self.controller_id = NO_CONTROLLER
        self._claim_revision = 0  # create_revision of our /controller key; 0 while we hold none
        self._task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._campaign_lock = asyncio.Lock()

    @property
    def is_controller(self) -> bool:
        return self._claim_revision != 0

    def compares(self) -> Sequence[Compare]:
        """The fence: the controller key is still the one this broker created (fails when it holds none)."""
        revision = self._claim_revision or _NEVER
        return (Compare.create_revision(CONTROLLER_KEY, CompareResult.EQUAL, revision),)

    async def start(self) -> None:
        await self.campaign()
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._keep_alive(), name="controller-election")
        self._watch_task = loop.create_task(self._follow_claim(), name="controller-claim-watch")

    async def campaign(self) -> None:
        """Claims ``/controller`` if nobody holds it; otherwise learns who does."""
        async with self._campaign_lock:
            await self._campaign()

    async def _follow_claim(self) -> None:
        """Campaigns as soon as the claim is deleted, rather than at the next renewal tick."""
        while True:
            watch = self._store.watch(CONTROLLER_KEY)
            try:
                async for batch in watch:
                    if any(e.type is EventType.DELETE for e in batch) and not self.is_controller:
                        try:
                            await self.campaign()
                        except StoreClosedError:
                            return
                        except MetadataStoreError as e:
                            log.warning("campaign after the controller claim was deleted failed (%s)", e)
                return  # the store closed
            except StoreClosedError:
                return
            except CompactedError:
                continue
            except MetadataStoreError as e:
                log.warning("controller claim watch failed (%s); watching again", e)
                await asyncio.sleep(self.ttl_s / 3 if self.interval_s is None else self.interval_s)
            finally:
                await watch.aclose()

    async def _campaign(self) -> None:
        self._claim_revision = 0
        lease_id = await self._store.grant_lease(self.ttl_s)
        claim = json.dumps({"broker_id": self.broker_id}).encode()
        try:
            result = await self._store.txn(
                [Compare.absent(CONTROLLER_KEY)], [Op.put(CONTROLLER_KEY, claim, lease_id)], [Op.get(CONTROLLER_KEY)]
            )
        except BaseException:
            with contextlib.suppress(MetadataStoreError):
                await self._store.revoke(lease_id)
            raise
        if result.succeeded:
            self.lease_id, self._claim_revision, self.controller_id = lease_id, result.revision, self.broker_id
            log.info("broker %d is the controller (claim revision %d)", self.broker_id, result.revision)
            return
        self.lease_id = 0
        with contextlib.suppress(MetadataStoreError):
            await self._store.revoke(lease_id)
        held = result.responses[0].kvs
        self.controller_id = _holder(held[0].value) if held else NO_CONTROLLER

    async def _keep_alive(self) -> None:
        await keep_lease_alive(
            self._store,
            self.ttl_s,
            lambda: self.lease_id,
            self.campaign,
            f"controller claim of {self.broker_id}",
            self.interval_s,
        )

    async def stop(self) -> None:
        """Stops renewing and gives the claim up (revoking the lease deletes ``/controller``)."""
        for task in (self._task, self._watch_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._watch_task = None
        self._claim_revision = 0
        if self.lease_id:
            await revoke_at_shutdown(self._store, self.lease_id)
            self.lease_id = 0


def _holder(value: bytes) -> int:
    try:
        broker_id = json.loads(value)["broker_id"]
    except (ValueError, KeyError, TypeError):
        return NO_CONTROLLER
    return broker_id if isinstance(broker_id, int) else NO_CONTROLLER
