"""The registration and controller lease TTLs: gone within ``broker.session.timeout.ms`` of the last heartbeat."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from odradek.broker.app import lease_ttl
from odradek.broker.metadata.embedded import EmbeddedMetadataStore
from odradek.broker.metadata.etcd import ETCD_LEASE_EXPIRY_CHECK_S, EtcdMetadataStore, etcd_lease_ttl


@pytest.mark.parametrize(
    ("deadline_s", "ttl"),
    [(9.0, 8), (9.5, 9), (10.0, 9), (18.0, 17), (3.0, 2), (2.0, 1), (1.5, 1), (1.0, 1), (0.2, 1)],
)
def test_etcd_ttl_plus_its_expiry_check_stays_within_the_deadline(deadline_s: float, ttl: int) -> None:
    assert etcd_lease_ttl(deadline_s) == ttl
    if deadline_s >= 1 + ETCD_LEASE_EXPIRY_CHECK_S:  # below that, etcd's smallest TTL is the best it can do
        assert ttl + ETCD_LEASE_EXPIRY_CHECK_S <= deadline_s
        assert ttl + 1 + ETCD_LEASE_EXPIRY_CHECK_S > deadline_s, "the longest whole TTL that fits"


class _Store:
    """Only the one method lease_ttl asks of a store."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s

    def lease_ttl_within(self, deadline_s: float) -> float:
        return self.ttl_s


def test_lease_ttl_takes_the_stores_ttl_while_two_heartbeats_fit_in_it() -> None:
    assert lease_ttl(_Store(8.0), 9.0, 2.0) == 8.0  # type: ignore[arg-type]
    assert lease_ttl(_Store(2.0), 3.0, 0.5) == 2.0  # type: ignore[arg-type]
    # 1 s would not outlast two 1 s heartbeat intervals: the session timeout itself, so keepalives still fit
    assert lease_ttl(_Store(1.0), 2.0, 1.0) == 2.0  # type: ignore[arg-type]


def test_each_store_answers_for_its_own_expiry(tmp_path: Path) -> None:
    assert EtcdMetadataStore.lease_ttl_within(None, 9.0) == 8.0  # type: ignore[arg-type]

    async def embedded() -> float:
        store = await EmbeddedMetadataStore.open(str(tmp_path))
        try:
            return store.lease_ttl_within(9.0)
        finally:
            await store.close()

    assert asyncio.run(embedded()) == 9.0  # the embedded store ends leases on its timer, at the TTL
