"""The ``backend`` fixture: every test that takes it runs once per MetadataStore backend (store_backends.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from store_backends import BACKENDS, SESSION_ETCD, StoreBackend


@pytest.fixture(scope="session", autouse=True)
def etcd_session() -> Iterator[None]:
    """Stops the session's etcd member (if a test started it) when the session ends."""
    yield
    SESSION_ETCD.stop()


@pytest.fixture(params=BACKENDS, ids=[b.name for b in BACKENDS])
def backend(request: pytest.FixtureRequest) -> StoreBackend:
    chosen: StoreBackend = request.param
    reason = chosen.unavailable()
    if reason is not None:
        pytest.skip(reason)
    return chosen
