"""The MetadataStore backends the conformance tests run against, and what each needs to be tested.

A conformance test speaks only the ``MetadataStore`` interface; the few things a test must do that the interface
does not offer go through ``StoreBackend``: open a fresh store (or reopen the same one), let time pass for its
leases, and name the oldest revision a watch can still replay. Every test taking the ``backend`` fixture runs
against each backend of ``BACKENDS``:

- ``embedded``: a store in the test's folder, on a fake clock (lease time passes at once);
- ``etcd``: one real etcd member for the whole session (``etcd_support``; started on first use, stopped at the
  end by the ``etcd_session`` fixture of conftest.py), each test's store under a key prefix of its own derived
  from its folder (so reopening the folder reopens the same keys). etcd's revision is shared by all prefixes and
  starts at 1, so tests count revisions from ``store.revision`` at open (tests run one at a time, and leave no
  lease running that could expire during a later test). Lease time is real: a test second is
  ``lease_second`` = 0.3 s, so TTLs stay whole etcd seconds and within etcd's expiry granularity (0.5 s).
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from etcd_support import EtcdCluster, etcd_missing
from metadata_testing import FakeClock
from odradek.broker.metadata.embedded import EmbeddedMetadataStore
from odradek.broker.metadata.etcd import EtcdMetadataStore
from odradek.broker.metadata.store import MetadataStore


@dataclass(frozen=True, slots=True)
class StoreBackend:
    name: str
    # The store kept under `folder` (a fresh one the first time; the same data when opened again).
    open: Callable[[Path, FakeClock], Awaitable[MetadataStore]]
    # Let `seconds` (test seconds: see lease_second) pass for the store's leases, and have it act on the ones
    # that ran out.
    let_time_pass: Callable[[MetadataStore, FakeClock, float], Awaitable[None]]
    # The oldest revision a watch can start from now.
    oldest_watchable: Callable[[MetadataStore], int]
    # Leases end when the store is reopened (embedded: not persisted), instead of living on to their TTL.
    reopen_ends_leases: bool
    # A test's lease TTLs are multiples of this many seconds of the store's lease clock.
    lease_second: float = 1.0
    # Why this backend cannot run here (the tests taking it are skipped), or None.
    unavailable: Callable[[], str | None] = lambda: None


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


class SessionEtcd:
    """The one etcd member of a test session, started when a test first needs it."""

    def __init__(self) -> None:
        self.cluster: EtcdCluster | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    def endpoints(self) -> list[str]:
        if self.cluster is None:
            self._folder = tempfile.TemporaryDirectory(prefix="odradek-etcd-")
            self.cluster = EtcdCluster(Path(self._folder.name), 1).start()
        return self.cluster.endpoints

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None


SESSION_ETCD = SessionEtcd()
atexit.register(SESSION_ETCD.stop)  # also when the session ends without its fixtures' teardown (etcd runs detached)
ETCD_LEASE_SECOND = 0.3


async def _open_etcd(folder: Path, clock: FakeClock) -> MetadataStore:
    prefix = "/test-" + hashlib.sha256(str(folder).encode()).hexdigest()[:16]
    return await EtcdMetadataStore.open(SESSION_ETCD.endpoints(), prefix.encode(), request_timeout_s=2.0)


async def _etcd_time(store: MetadataStore, clock: FakeClock, seconds: float) -> None:
    await asyncio.sleep(seconds * ETCD_LEASE_SECOND)


ETCD = StoreBackend(
    "etcd",
    _open_etcd,
    _etcd_time,
    lambda store: 1,  # the session's member is never compacted (compaction tests start their own)
    reopen_ends_leases=False,
    lease_second=ETCD_LEASE_SECOND,
    unavailable=etcd_missing,
)

BACKENDS = [EMBEDDED, ETCD]
