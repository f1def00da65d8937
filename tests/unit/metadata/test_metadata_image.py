"""MetadataImage lookups."""

from __future__ import annotations

import dataclasses

from odradek.broker.metadata.image import MetadataImage, TopicImage


def topic(name: str, topic_id: str) -> TopicImage:
    return TopicImage(name, topic_id, 0, {}, {})


def test_topic_by_id_finds_every_topic_and_follows_replaced_images() -> None:
    topics = {f"t{i}": topic(f"t{i}", f"id-{i}") for i in range(50)}
    image = MetadataImage(3, "c", {}, topics)
    assert all(image.topic_by_id(t.topic_id) is t for t in topics.values())
    assert image.topic_by_id("unknown") is None
    later = dataclasses.replace(image, revision=4, topics={"t0": topics["t0"]})
    assert later.topic_by_id("id-0") is topics["t0"]
    assert later.topic_by_id("id-1") is None
    assert MetadataImage().topic_by_id("id-0") is None
    assert later == MetadataImage(4, "c", {}, {"t0": topics["t0"]})  # the index takes no part in equality
