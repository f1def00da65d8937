"""``ClusterControlManager``: the brokers as the active controller sees them (Kafka's ClusterControlManager).

A broker is *registered* while its ``/brokers/<id>`` key lives (its lease: ``broker.session.timeout.ms``); an
expired lease is a lost broker. Its registration says whether it is ``fenced`` (just registered, not yet acted on
by the controller), was shut down cleanly, and whether it is ``shutting_down`` (controlled shutdown). The
lifecycle, as a table (event -> what the controller does, ``replication_control``):

    registered, fenced, clean       -> unfence it
    registered, fenced, unclean     -> remove it from every ISR that has other members, then unfence it
    unfenced                        -> elect it where a partition is offline and it is in the ISR
    shutting_down                   -> move its leaderships to other ISR members; remove it from every ISR
    registration gone               -> same as shutting_down (it cannot ask: it is dead)

``BrokerStates`` answers the two questions of every election: may broker b lead (``acceptable``: registered,
unfenced, not shutting down) and does b keep its ISR seat (``keeps_isr``: registered and not shutting down).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from odradek.broker.metadata.controller import Controller
from odradek.broker.metadata.image import BrokerImage, MetadataImage, PartitionImage

__all__ = ["BROKER_LIFECYCLE", "BrokerStates", "ClusterControlManager", "offline_replicas"]

log = logging.getLogger(__name__)

# (fenced, clean_shutdown) of a registration -> the controller's steps for it, in order.
BROKER_LIFECYCLE: Mapping[tuple[bool, bool], tuple[str, ...]] = {
    (True, True): ("unfence",),
    (True, False): ("remove_from_shared_isrs", "unfence"),
    (False, True): (),
    (False, False): (),  # handled when it was unfenced
}


@dataclass(frozen=True, slots=True)
class BrokerStates:
    """Broker liveness for elections. ``also_active``: brokers being unfenced in this pass, acceptable although
    the image still shows them fenced (Kafka's ``brokerToAdd``); ``never_active``: brokers that must not lead in
    this pass whatever the image says (``brokerToRemove``, ``brokerWithUncleanShutdown``)."""

    brokers: Mapping[int, BrokerImage]
    also_active: frozenset[int] = frozenset()
    never_active: frozenset[int] = frozenset()

    def acceptable(self, broker_id: int) -> bool:
        if broker_id in self.never_active:
            return False
        if broker_id in self.also_active:
            return broker_id in self.brokers
        broker = self.brokers.get(broker_id)
        return broker is not None and broker.active

    def keeps_isr(self, broker_id: int) -> bool:
        broker = self.brokers.get(broker_id)
        return broker is not None and not broker.shutting_down


def offline_replicas(partition: PartitionImage, brokers: Mapping[int, BrokerImage]) -> list[int]:
    """The replicas whose broker is not registered (Metadata's offline_replicas)."""
    return [r for r in partition.replicas if r not in brokers]


class ClusterControlManager:
    """The controller's writes of broker registrations (only unfencing: brokers write everything else)."""

    def __init__(self, controller: Controller) -> None:
        self._controller = controller

    @staticmethod
    def fenced_brokers(image: MetadataImage) -> list[BrokerImage]:
        return [b for b in image.brokers.values() if b.fenced]

    async def unfence(self, broker: BrokerImage) -> int:
        """Unfences ``broker`` as read from the image; the write's revision, or 0 if it changed meanwhile."""
        revision = await self._controller.unfence_broker(broker)
        if revision:
            log.info(
                "broker %d (epoch %d) unfenced%s",
                broker.broker_id,
                broker.epoch,
                "" if broker.clean_shutdown else " after an unclean shutdown",
            )
        return revision
