"""``keep_lease_alive``: the renewal loop shared by everything this broker holds under a store lease.

The broker registration (``/brokers/<id>``) and the controller claim (``/controller``) each hold a lease of
``ttl_s`` seconds. The loop renews it every ``interval_s`` seconds (``broker.heartbeat.interval.ms``; default
``ttl_s / 3``) (``asyncio.sleep``, no polling of state); when a
renewal finds the lease gone (the process was paused longer than the TTL, or the store restarted, notes/etcd.md
section 4), ``reacquire`` runs: it takes a new lease and writes the key again. Store and controller errors are
logged and retried at the next tick; the loop ends only when its task is cancelled.

``revoke_at_shutdown``: the lease given up at shutdown, waiting at most ``REVOKE_AT_SHUTDOWN_S``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from odradek.broker.metadata.errors import ControllerError
from odradek.broker.metadata.store import LeaseNotFoundError, MetadataStore, MetadataStoreError

__all__ = ["REVOKE_AT_SHUTDOWN_S", "keep_lease_alive", "revoke_at_shutdown"]

log = logging.getLogger(__name__)


async def keep_lease_alive(
    store: MetadataStore,
    ttl_s: float,
    lease_id: Callable[[], int],
    reacquire: Callable[[], Awaitable[None]],
    what: str,
    interval_s: float | None = None,
) -> None:
    """Renews ``lease_id()`` every ``interval_s`` (default ``ttl_s / 3``) s; calls ``reacquire()`` when it is gone
    (warning) or none is held (``lease_id()`` 0: no warning, no keepalive sent)."""
    while True:
        await asyncio.sleep(ttl_s / 3 if interval_s is None else interval_s)
        held = lease_id()
        try:
            if held == 0:
                # Nothing held (a broker that is not the controller, between its tries to claim): only try to
                # acquire, quietly; a lost lease is worth a warning, not holding none.
                await reacquire()
                continue
            await store.keepalive(held)
        except LeaseNotFoundError:
            log.warning("%s: lease %d lost; acquiring it again", what, held)
            try:
                await reacquire()
            except (ControllerError, MetadataStoreError) as e:
                log.warning("%s: acquiring failed (%s); retrying", what, e)
        except (ControllerError, MetadataStoreError) as e:
            log.warning("%s: %s failed (%s); retrying", what, "keepalive" if held else "acquiring", e)


# A revoke at shutdown is a courtesy (the lease expires on its own after its TTL): it may not hold the shutdown for
# the store's whole request timeout when the store is gone (a whole cluster stopped with its etcd members).
REVOKE_AT_SHUTDOWN_S = 2.0


async def revoke_at_shutdown(store: MetadataStore, lease_id: int, timeout_s: float = REVOKE_AT_SHUTDOWN_S) -> bool:
    """Revoke `lease_id`, waiting at most `timeout_s`; whether it was revoked (else it expires by its TTL)."""
    try:
        await asyncio.wait_for(store.revoke(lease_id), timeout_s)
    except (MetadataStoreError, TimeoutError) as exc:
        log.warning("lease %d not revoked at shutdown (%s): it expires by its TTL", lease_id, exc or "timed out")
        return False
    return True
