"""The MetadataStore backends the conformance tests run against, and what each needs to be tested.

A conformance test speaks only the ``MetadataStore`` interface; the few things a test must do that the interface
does not offer go through ``StoreBackend``: open a fresh store (or reopen the same one), let time pass for its
leases, and name the oldest revision a watch can still replay. To add a backend (etcd next), add a
``StoreBackend`` to ``BACKENDS``: every test taking the ``backend`` fixture then runs against it too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from metadata_testing import FakeClock
from odradek.broker.metadata.embedded import EmbeddedMetadataStore
from odradek.broker.metadata.store import MetadataStore


@dataclass(frozen=True, slots=True)
class StoreBackend:
    name: str
    # The store kept under `folder` (a fresh one the first time; the same data when opened again).
    open: Callable[[Path, FakeClock], Awaitable[MetadataStore]]
    # Let `seconds` pass for the store's leases and have it act on the ones that ran out.
    let_time_pass: Callable[[MetadataStore, FakeClock, float], Awaitable[None]]
    # The oldest revision a watch can start from now.
    oldest_watchable: Callable[[MetadataStore], int]
    # Leases end when the store is reopened (embedded: not persisted), instead of living on to their TTL.
    reopen_ends_leases: bool


async def _open_embedded(folder: Path, clock: FakeClock) -> MetadataStore:
    return await EmbeddedMetadataStore.open(str(folder), clock=clock, snapshot_every=7, fsync=False)


async def _embedded_time(store: MetadataStore, clock: FakeClock, seconds: float) -> None:
    assert isinstance(store, EmbeddedMetadataStore)
    clock.advance(seconds)
    await store.expire_leases()


def _embedded_oldest(store: MetadataStore) -> int:
    assert isinstance(store, EmbeddedMetadataStore)
    return store.compact_revision + 1


EMBEDDED = StoreBackend("embedded", _open_embedded, _embedded_time, _embedded_oldest, reopen_ends_leases=True)

BACKENDS = [EMBEDDED]
