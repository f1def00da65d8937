"""``BrokerRegistration``: keeps ``/brokers/<id>`` alive with a lease and a keepalive task.

``start()`` grants a lease of ``ttl_s`` seconds (``broker.session.timeout.ms``) and registers through
``Controller.register_broker``, *fenced* and saying whether the log dirs were shut down cleanly (``BrokerImage``);
the active controller unfences it (``cluster_control``). A task then renews the lease every ``interval_s``
(``broker.heartbeat.interval.ms``, ``lease.keep_lease_alive``) and, if a renewal finds it gone, registers again with
a new lease, as the etcd evaluation recommends (notes/etcd.md section 4). ``stop()`` revokes the lease, which
removes the registration at once.

``begin_controlled_shutdown()`` sets ``shutting_down`` in the registration (a CAS that keeps the controller's
``fenced`` flag); the controller then moves this broker's leaderships away and takes it out of every ISR.

A broker restarted after SIGKILL finds its own earlier registration still live until that lease expires (the
etcd store keeps leases across client processes): ``start()`` then retries every ``REGISTER_RETRY_S`` for up to
twice the lease TTL, as Kafka's BrokerLifecycleManager retries a refused registration, before it gives up with
DUPLICATE_BROKER_REGISTRATION (a second live broker with the same id never lets go of its lease).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging

from odradek.broker.metadata.controller import Controller
from odradek.broker.metadata.errors import ControllerError
from odradek.broker.metadata.image import BrokerImage, broker_key
from odradek.broker.metadata.lease import keep_lease_alive, revoke_at_shutdown
from odradek.broker.metadata.store import Compare, MetadataStore, MetadataStoreError, Op
from odradek.broker.protocol.errors import ErrorCode

__all__ = ["BrokerRegistration"]

log = logging.getLogger(__name__)

REGISTER_RETRY_S = 0.5


class BrokerRegistration:
    def __init__(
        self,
        store: MetadataStore,
        controller: Controller,
        broker: BrokerImage,
        ttl_s: float = 10.0,
        interval_s: float | None = None,
    ) -> None:
        """``broker.fenced`` and ``broker.clean_shutdown`` are what gets registered (a broker: fenced, and
        clean_shutdown from its LogManager)."""
        self._store = store
        self._controller = controller
        self.broker = broker
        self.ttl_s = ttl_s
        self.interval_s = interval_s
        self.lease_id = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Registers, waiting for an earlier registration of this id to expire; ``ControllerError``
        DUPLICATE_BROKER_REGISTRATION if it is still live after twice the lease TTL (the id is live elsewhere)."""
        attempts = int(2 * self.ttl_s / REGISTER_RETRY_S) + 1
        for attempt in range(attempts):
            try:
                await self._register()
                break
            except ControllerError as exc:
                if exc.error_code is not ErrorCode.DUPLICATE_BROKER_REGISTRATION or attempt == attempts - 1:
                    raise
                if attempt == 0:
                    log.warning(
                        "broker %s is still registered (a previous process's lease?); retrying until it expires",
                        self.broker.broker_id,
                    )
                await asyncio.sleep(REGISTER_RETRY_S)
        self._task = asyncio.get_running_loop().create_task(self._keep_alive(), name="broker-registration")

    async def _register(self) -> None:
        lease_id = await self._store.grant_lease(self.ttl_s)
        b = self.broker
        try:
            await self._controller.register_broker(
                b.broker_id,
                b.host,
                b.port,
                rack=b.rack,
                listeners=b.listeners,
                lease_id=lease_id,
                fenced=b.fenced,
                clean_shutdown=b.clean_shutdown,
            )
        except BaseException:
            with contextlib.suppress(MetadataStoreError):
                await self._store.revoke(lease_id)
            raise
        self.lease_id = lease_id

    async def _keep_alive(self) -> None:
        await keep_lease_alive(
            self._store,
            self.ttl_s,
            lambda: self.lease_id,
            self._register,
            f"broker {self.broker.broker_id}",
            self.interval_s,
        )

    async def begin_controlled_shutdown(self) -> bool:
        """Marks the registration ``shutting_down`` (kept if this broker registers again); False if there is no
        registration of this process to mark. Store errors propagate."""
        self.broker = dataclasses.replace(self.broker, shutting_down=True)
        key = broker_key(self.broker.broker_id)
        for _ in range(10):  # bounded: only the controller's unfencing races with this write
            current = await self._store.get(key)
            if current is None or current.lease != self.lease_id or not self.lease_id:
                return False
            record = BrokerImage.from_json(self.broker.broker_id, current.value)
            marked = dataclasses.replace(record, shutting_down=True)
            result = await self._store.txn(
                [Compare.unchanged(key, current.mod_revision)], [Op.put(key, marked.to_json(), self.lease_id)], []
            )
            if result.succeeded:
                return True
        return False

    async def stop(self) -> None:
        """Stops renewing and revokes the lease (the registration disappears at once)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.lease_id:
            await revoke_at_shutdown(self._store, self.lease_id)
            self.lease_id = 0
