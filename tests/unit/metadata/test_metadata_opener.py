"""open_store(url): the metadata store named by metadata.store.url, and the default derived from log.dirs."""

from __future__ import annotations

from pathlib import Path

import pytest
from metadata_testing import run
from odradek.broker.config.definitions import ConfigError
from odradek.broker.metadata.opener import default_store_url, open_store, store_url


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
        ("etcd://127.0.0.1:2379,127.0.0.1:22379", "not implemented yet"),
        ("embedded://", "needs a folder"),
        ("zookeeper://127.0.0.1:2181", "unknown scheme"),
        ("/just/a/path", "unknown scheme"),
    ],
)
def test_other_urls_are_refused_with_a_config_error(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run(open_store(url))
