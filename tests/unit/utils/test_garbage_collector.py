"""utils/garbage_collector.py and `gc.freeze.on.start` (issue 15 item 8): a broker started with the key (the
default) has frozen its start-up heap before it serves, so full collections no longer scan it; with the key off
nothing is frozen. The broker runs in this process (app.start on a temp log dir, an ephemeral port, no metrics
endpoint)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from odradek.broker.app import start
from odradek.broker.config.broker import load
from odradek.broker.utils.garbage_collector import freeze_start_up_heap


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # other tests' objects must stay collectable


def test_freeze_start_up_heap_moves_live_objects_out_of_the_collected_generations() -> None:
    kept = [[] for _ in range(1000)]  # tracked containers alive now
    frozen = freeze_start_up_heap()
    # A frozen object freed meanwhile (by another thread, e.g. one an earlier test left ending) leaves the count:
    # CI saw 459,831 frozen and 459,830 counted right after.
    assert frozen >= gc.get_freeze_count() >= len(kept)
    gc.collect()
    collected = {id(x) for x in gc.get_objects()}  # the three generations a collection scans
    assert not any(id(x) in collected for x in kept)
    made_after = []
    assert id(made_after) in {id(x) for x in gc.get_objects()}


def _frozen_after_start(tmp_path: Path, overrides: list[str]) -> int:
    config = load(
        None,
        [f"log.dirs={tmp_path / 'logs'}", "listeners=PLAINTEXT://127.0.0.1:0", "metrics.port=0", *overrides],
        {},
    )

    async def main() -> int:
        broker = await asyncio.wait_for(start(config), 60)
        try:
            return gc.get_freeze_count()
        finally:
            await asyncio.wait_for(broker.stop(), 60)

    return asyncio.run(main())


def test_a_started_broker_has_frozen_its_start_up_heap(tmp_path: Path) -> None:
    assert _frozen_after_start(tmp_path, []) > 10_000  # modules, codecs, configs: tens of thousands of objects


def test_with_gc_freeze_on_start_off_nothing_is_frozen(tmp_path: Path) -> None:
    assert _frozen_after_start(tmp_path, ["gc.freeze.on.start=false"]) == 0
