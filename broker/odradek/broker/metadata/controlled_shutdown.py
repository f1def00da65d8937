"""Controlled shutdown, the broker's side (Kafka's BrokerLifecycleManager.beginControlledShutdown).

On SIGTERM, before it stops serving, a broker with ``controlled.shutdown.enable`` marks its registration
``shutting_down`` (``BrokerRegistration.begin_controlled_shutdown``); the active controller
(``replication_control``) then moves the leadership of every partition it leads to another in-sync replica and
takes it out of every ISR (where it is the only member, the partition goes offline, as in Kafka). The broker waits,
on metadata images (a cache listener, no polling), until the image shows it leading nothing, for at most
``controlled.shutdown.max.retries`` rounds of ``controlled.shutdown.retry.backoff.ms``, marking the registration
again at each round (it may have registered anew meanwhile); then it stops whether or not that happened.

When the metadata store cannot be reached (marking the registration fails after the store's own retries), nobody
can move anything: the broker stops at once instead of waiting its rounds out.

With no other broker able to lead (none registered, or every other one fenced or shutting down too, as when a
whole cluster is stopped at once) there is nobody to hand anything to: the broker stops at once, and stops waiting
as soon as that becomes true during a round.

Once leadership has moved, a broker that led something keeps serving for ``HANDOVER_LINGER_MS`` more before it
stops listening and deletes its registration: its clients get NOT_LEADER_OR_FOLLOWER and ask for Metadata, and
that answer must show the new leaders while this broker is still listed. A Metadata answer in which the new leader
and the broker's disappearance arrive together makes librdkafka (2.16) decommission the broker while it moves the
partition to the new leader, and the partition lands on its internal broker until its next 1 s topic scan: a
producer then stalls about a second (bench/RESULTS.md, "Replication": without the linger, SIGTERM failover took
about 1 s in a third of the rounds). In Kafka the stopping broker likewise stays listed until the controller fences
it, a heartbeat later.
"""

from __future__ import annotations

import asyncio
import logging

from odradek.broker.metadata.cache import MetadataCache
from odradek.broker.metadata.image import MetadataDelta, MetadataImage
from odradek.broker.metadata.registration import BrokerRegistration
from odradek.broker.metadata.replication_control import leaders_of
from odradek.broker.metadata.store import MetadataStoreError
from odradek.broker.utils.time import Time, wait_event

__all__ = ["HANDOVER_LINGER_MS", "controlled_shutdown"]

HANDOVER_LINGER_MS = 500.0

log = logging.getLogger(__name__)


async def controlled_shutdown(
    cache: MetadataCache,
    registration: BrokerRegistration,
    rounds: int,
    round_ms: float,
    time: Time,
    linger_ms: float = HANDOVER_LINGER_MS,
) -> bool:
    """True once the image shows this broker leading nothing (after `linger_ms` more if it led anything that
    moved); False when the rounds ran out (or were skipped because no other broker is registered: then True at
    once). Rounds and the linger are measured on `time`."""
    node_id = registration.broker.broker_id
    if not _successors(cache.image, node_id):
        log.info("controlled shutdown: no other broker can lead; nothing to hand over")
        return True
    led = bool(leaders_of(cache.image, node_id))
    done = asyncio.Event()

    def listener(image: MetadataImage, delta: MetadataDelta) -> None:
        if not leaders_of(image, node_id) or not _successors(image, node_id):
            done.set()

    remove = cache.add_listener(listener)
    try:
        for attempt in range(max(rounds, 1)):
            try:
                await registration.begin_controlled_shutdown()
            except MetadataStoreError as e:
                # The store did not answer for a whole request timeout (every endpoint tried): no controller can
                # act on anything now, and each further round would cost as long again, past the process's grace
                # period (a whole cluster deleted at once loses its etcd pods with its brokers).
                log.warning("controlled shutdown: the metadata store cannot be reached (%s); stopping at once", e)
                return False
            if not leaders_of(cache.image, node_id) or not _successors(cache.image, node_id):
                done.set()
            if await wait_event(time, done, round_ms):
                log.info("controlled shutdown: leadership moved away or nobody can take it (round %d)", attempt + 1)
                if led and _successors(cache.image, node_id):
                    await time.sleep(linger_ms)  # still listed while clients learn the new leaders
                return True
        still = len(leaders_of(cache.image, node_id))
        log.warning(
            "controlled shutdown: still the leader of %d partition(s) after %d round(s); stopping", still, rounds
        )
        return False
    finally:
        remove()


def _successors(image: MetadataImage, node_id: int) -> list[int]:
    """The other brokers that could take leadership: registered, unfenced and not shutting down."""
    return [b for b, broker in image.brokers.items() if b != node_id and broker.active]
