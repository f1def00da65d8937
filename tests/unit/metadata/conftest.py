"""The ``backend`` fixture: every test that takes it runs once per MetadataStore backend (store_backends.py)."""

from __future__ import annotations

import pytest
from store_backends import BACKENDS, StoreBackend


@pytest.fixture(params=BACKENDS, ids=[b.name for b in BACKENDS])
def backend(request: pytest.FixtureRequest) -> StoreBackend:
    chosen: StoreBackend = request.param
    return chosen
