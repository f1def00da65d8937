"""Dynamic broker configs in the metadata store: controller writes, key layout, the cache's image and deltas, and
that they survive closing and reopening the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from metadata_testing import FakeClock, run
from odradek.broker.metadata.cache import MetadataCache
from odradek.broker.metadata.controller import Controller
from odradek.broker.metadata.embedded import EmbeddedMetadataStore
from odradek.broker.metadata.errors import ControllerError, ErrorCode
from odradek.broker.metadata.image import (
    MetadataDelta,
    MetadataImage,
    broker_config_key,
    broker_config_resource,
)


def test_keys_name_the_default_resource_as_zookeeper_kafka_did() -> None:
    assert broker_config_key("") == b"/configs/brokers/<default>"
    assert broker_config_key("3") == b"/configs/brokers/3"
    assert broker_config_resource(b"/configs/brokers/<default>") == ""
    assert broker_config_resource(b"/configs/brokers/3") == "3"
    assert broker_config_resource(b"/topics/x") is None


def test_controller_sets_deletes_replaces_and_validates(tmp_path: Path) -> None:
    seen: list[tuple[str, dict[str, str]]] = []

    def validator(name: str, configs: dict[str, str]) -> None:
        seen.append((name, configs))
        if "bad" in configs:
            raise ControllerError(ErrorCode.INVALID_REQUEST, "bad")

    async def main() -> None:
        store = await EmbeddedMetadataStore.open(str(tmp_path), clock=FakeClock())
        try:
            controller = Controller(store, validate_broker_configs=validator)
            assert await controller.alter_broker_configs("", {"a": "1", "b": "2"}) == {"a": "1", "b": "2"}
            kv = await store.get(b"/configs/brokers/<default>")
            assert kv is not None and json.loads(kv.value) == {"configs": {"a": "1", "b": "2"}}
            assert await controller.alter_broker_configs("", {"c": "3"}, ["a"]) == {"b": "2", "c": "3"}
            assert await controller.alter_broker_configs("", {"d": "4"}, replace=True) == {"d": "4"}
            assert seen[-1] == ("", {"d": "4"}), "the validator sees the resulting whole map"
            revision = store.revision
            assert await controller.alter_broker_configs("1", {"e": "5"}, validate_only=True) == {"e": "5"}
            assert store.revision == revision and await controller.broker_configs("1") == {}
            with pytest.raises(ControllerError) as info:
                await controller.alter_broker_configs("1", {"bad": "x"})
            assert info.value.error_code == ErrorCode.INVALID_REQUEST and store.revision == revision
            with pytest.raises(ControllerError) as info:
                await controller.alter_broker_configs("one", {"e": "5"})
            assert info.value.error_code == ErrorCode.INVALID_REQUEST
            assert await controller.alter_broker_configs("", None, ["d"]) == {}
            assert await store.get(broker_config_key("")) is None, "an empty map deletes the key"
        finally:
            await store.close()

    run(main())


def test_cache_follows_broker_configs_and_reloads_them_after_reopen(tmp_path: Path) -> None:
    async def main() -> None:
        store = await EmbeddedMetadataStore.open(str(tmp_path), clock=FakeClock())
        controller = Controller(store)
        await controller.alter_broker_configs("", {"log.retention.ms": "1000"})
        cache = MetadataCache(store)
        deltas: list[MetadataDelta] = []

        def listener(image: MetadataImage, delta: MetadataDelta) -> None:
            deltas.append(delta)

        cache.add_listener(listener)
        await cache.start()
        try:
            assert cache.image.broker_configs == {"": {"log.retention.ms": "1000"}}
            assert deltas[-1].changed_broker_configs == {""}
            await controller.alter_broker_configs("1", {"message.max.bytes": "2000"})
            image = await cache.wait_for_revision(store.revision)
            assert image.broker_configs == {"": {"log.retention.ms": "1000"}, "1": {"message.max.bytes": "2000"}}
            assert deltas[-1].changed_broker_configs == {"1"} and deltas[-1].changed_topics == frozenset()
            await controller.alter_broker_configs("", None, ["log.retention.ms"])
            image = await cache.wait_for_revision(store.revision)
            assert image.broker_configs == {"1": {"message.max.bytes": "2000"}}
            assert deltas[-1].changed_broker_configs == {""}
        finally:
            await cache.stop()
            await store.close()
        reopened = await EmbeddedMetadataStore.open(str(tmp_path), clock=FakeClock())
        cache = MetadataCache(reopened)
        await cache.start()
        try:
            assert cache.image.broker_configs == {"1": {"message.max.bytes": "2000"}}
        finally:
            await cache.stop()
            await reopened.close()

    run(main())
