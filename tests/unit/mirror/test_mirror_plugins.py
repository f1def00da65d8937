"""The connectors are Connect plugins: declared in pyproject.toml's `odradek.connect.plugins` entry points under
Kafka's class names, found by Connect's plugin registry under those names and the simple ones."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from odradek.connect.plugins import ENTRY_POINT_GROUP, Plugins, PluginType

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"
MODULES = {
    "org.apache.kafka.connect.mirror.MirrorSourceConnector": "odradek.mirror.source",
    "org.apache.kafka.connect.mirror.MirrorCheckpointConnector": "odradek.mirror.checkpoint",
    "org.apache.kafka.connect.mirror.MirrorHeartbeatConnector": "odradek.mirror.heartbeat",
}
KAFKA_NAMES = list(MODULES)


def declared() -> dict[str, str]:
    data = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    entries: dict[str, str] = data["project"]["entry-points"][ENTRY_POINT_GROUP]
    return entries


def test_entry_points_name_kafka_classes() -> None:
    entries = declared()
    for name in KAFKA_NAMES:
        assert entries[name] == f"{MODULES[name]}:{name.rpartition('.')[2]}"


def test_registry_finds_them_by_kafka_and_simple_names(monkeypatch: pytest.MonkeyPatch) -> None:
    points = [metadata.EntryPoint(name, value, ENTRY_POINT_GROUP) for name, value in declared().items()]
    monkeypatch.setattr(metadata, "entry_points", lambda group: points if group == ENTRY_POINT_GROUP else [])
    plugins = Plugins()
    for name in KAFKA_NAMES:
        simple = name.rpartition(".")[2]
        desc = plugins.find(name, PluginType.SOURCE)
        assert desc.cls.__name__ == simple
        assert plugins.find(simple, PluginType.SOURCE) is desc
        assert plugins.find(simple.removesuffix("Connector"), PluginType.SOURCE) is desc
