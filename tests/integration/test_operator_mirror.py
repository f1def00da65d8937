"""The mm2.properties a KafkaMirrorMaker2 resource makes, run by the real `odradek mirror-maker` with the pod's
arguments (--clusters <connectCluster>) between two real brokers: the topics it names are copied."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from it_support import BrokerProcess, ck_create_topic, unique_topic, wait_for
from kafka_records_support import mirror_maker2_resource
from mirror_support import MirrorProcess, produce_records, read_partition, source_records, topic_names
from odradek.connect.config.properties import load_properties
from odradek.operator.resources import mirror as model


@pytest.fixture
def mirrors() -> Iterator[list[MirrorProcess]]:
    started: list[MirrorProcess] = []
    try:
        yield started
    finally:
        for process in started:
            process.cleanup()


def test_the_resources_properties_mirror_a_topic(
    broker_factory: Callable[..., BrokerProcess], mirrors: list[MirrorProcess], tmp_path: Path
) -> None:
    source, target = broker_factory(), broker_factory()
    topic = unique_topic("opmirror")
    ck_create_topic(source.bootstrap, topic, 1)
    records = source_records(1, 20)
    produce_records(source.bootstrap, topic, records)
    resource = mirror_maker2_resource("m", source.bootstrap, target.bootstrap, topic, "kafka", heartbeats=True)
    text = model.mm2_properties(model.from_resource(resource))
    written = tmp_path / "operator-mm2.properties"
    written.write_text(text, encoding="utf-8")
    props = load_properties(written)
    process = MirrorProcess(tmp_path / "mirror", props).start(("--clusters", "target"))
    mirrors.append(process)
    wait_for(lambda: f"source.{topic}" in topic_names(target.bootstrap), 60, 0.5, "the remote topic created")
    copied = wait_for(
        lambda: len(m := read_partition(target.bootstrap, f"source.{topic}", 0)) >= 20 and m,
        60,
        0.5,
        "the topic copied",
    )
    assert [m.value() for m in copied] == [r["value"] for r in records]
    assert process.stop() == 0
