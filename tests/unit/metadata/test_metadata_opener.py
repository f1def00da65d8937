"""open_store(url): the metadata store named by metadata.store.url, and the default derived from log.dirs."""

from __future__ import annotations

from pathlib import Path

import pytest
from etcd_support import etcd_missing
from metadata_testing import run
from odradek.broker.config.definitions import ConfigError
from odradek.broker.metadata.etcd import EtcdMetadataStore
from odradek.broker.metadata.opener import default_store_url, etcd_endpoints, open_store, store_url
from store_backends import SESSION_ETCD


def test_the_default_is_the_embedded_store_in_the_first_log_dir(tmp_path: Path) -> None:
    dirs = [tmp_path / "a", tmp_path / "b"]
    assert default_store_url(dirs) == f"embedded://{tmp_path}/a/__cluster_metadata"
    assert store_url("", dirs) == store_url(None, dirs) == default_store_url(dirs)
    assert store_url("embedded:///elsewhere", dirs) == "embedded:///elsewhere"


def test_an_embedded_url_opens_a_store_in_that_folder_and_it_keeps_its_data(tmp_path: Path) -> None:
    url = default_store_url([tmp_path])

    async def main() -> None:
        store = await open_store(url)
        await store.put(b"/k", b"v")
        assert store.revision == 1
        await store.close()
        assert (tmp_path / "__cluster_metadata").is_dir()
        reopened = await open_store(url)
        kv = await reopened.get(b"/k")
        await reopened.close()
        assert kv is not None and kv.value == b"v"

    run(main())


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("etcd://127.0.0.1", "is not host:port"),
        ("etcd://127.0.0.1:1,", "is not host:port"),
        ("etcd://:2379", "is not host:port"),
        ("etcd://127.0.0.1:99999", "is not host:port"),
        ("etcd://127.0.0.1:1/a?x=1", "plain path"),
        ("embedded://", "needs a folder"),
        ("zookeeper://127.0.0.1:2181", "unknown scheme"),
        ("/just/a/path", "unknown scheme"),
    ],
)
def test_other_urls_are_refused_with_a_config_error(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run(open_store(url))


def test_an_etcd_url_names_the_endpoints_and_the_key_prefix() -> None:
    url = "etcd://10.0.0.1:2379,etcd-1.example:32379,[::1]:2379/odradek/prod/"
    assert etcd_endpoints(url) == (
        ["http://10.0.0.1:2379", "http://etcd-1.example:32379", "http://[::1]:2379"],
        b"/odradek/prod",
    )
    assert etcd_endpoints("etcd://h:1") == (["http://h:1"], b"")
    assert etcd_endpoints("etcd://h:1/") == (["http://h:1"], b"")


@pytest.mark.skipif(etcd_missing() is not None, reason=str(etcd_missing()))
def test_an_etcd_url_opens_a_store_on_that_etcd_under_the_prefix() -> None:
    endpoint = SESSION_ETCD.endpoints()[0].removeprefix("http://")

    async def main() -> None:
        store = await open_store(f"etcd://{endpoint}/opener-test")
        assert isinstance(store, EtcdMetadataStore) and store.prefix == b"/opener-test"
        await store.put(b"/k", b"v")
        await store.close()
        unprefixed = await open_store(f"etcd://{endpoint}")
        kv = await unprefixed.get(b"/opener-test/k")
        await unprefixed.close()
        assert kv is not None and kv.value == b"v"

    run(main())
