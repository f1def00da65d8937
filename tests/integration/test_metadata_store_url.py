"""metadata.store.url: where a broker keeps its cluster metadata (embedded://PATH), and refusals at start-up
(etcd brokers: test_etcd_broker.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from it_support import BrokerProcess, BrokerStartError, ck_admin, ck_create_topic, free_port, unique_topic

pytestmark = pytest.mark.integration

Factory = Callable[..., BrokerProcess]


def test_an_embedded_url_keeps_the_metadata_in_that_folder_across_restarts(broker_factory: Factory) -> None:
    broker = broker_factory({"metadata.store.url": "embedded://meta"})  # relative to the broker's working dir
    topic = unique_topic("store-url")
    ck_create_topic(broker.bootstrap, topic)
    broker.stop()
    assert (broker.workdir / "meta" / "journal").is_file()
    assert not (broker.log_dir / "__cluster_metadata").exists(), "not the default folder"
    broker.restart()
    assert topic in ck_admin(broker.bootstrap).list_topics(timeout=10).topics


def test_an_etcd_url_where_no_etcd_answers_is_refused_with_a_clear_message(broker_factory: Factory) -> None:
    port = free_port()  # nothing listens there (never 2379: a packaged etcd may)
    with pytest.raises(BrokerStartError) as info:
        broker_factory({"metadata.store.url": f"etcd://127.0.0.1:{port}"})
    assert "exited with 2" in str(info.value)
    assert "cannot open the etcd metadata store" in str(info.value)
    assert "no endpoint answered" in str(info.value)
