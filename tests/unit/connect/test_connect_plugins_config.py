"""Plugin discovery and Kafka's aliases, connector config validation (Kafka's messages), worker config, Java
properties files and config providers."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from odradek.connect.api.errors import ConnectException
from odradek.connect.config.connector import invalid_config_message, validate
from odradek.connect.config.properties import parse_properties
from odradek.connect.config.providers import ConfigTransformer
from odradek.connect.config.worker import WORKER_CONFIG, WorkerConfig
from odradek.connect.connectors.file import FileStreamSinkConnector, FileStreamSourceConnector
from odradek.connect.converters.json import JsonConverter
from odradek.connect.plugins import BUILTINS, ENTRY_POINT_GROUP, Plugins, PluginType
from odradek.connect.transforms.fields import InsertFieldValue

PLUGINS = Plugins(entry_points=False)


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("org.apache.kafka.connect.file.FileStreamSinkConnector", FileStreamSinkConnector),
        ("FileStreamSink", FileStreamSinkConnector),
        ("FileStreamSinkConnector", FileStreamSinkConnector),
        ("FileStreamSource", FileStreamSourceConnector),
        ("org.apache.kafka.connect.json.JsonConverter", JsonConverter),
        ("JsonConverter", JsonConverter),
        ("odradek.connect.converters.json.JsonConverter", JsonConverter),
        ("odradek.connect.converters.json:JsonConverter", JsonConverter),
        ("org.apache.kafka.connect.transforms.InsertField$Value", InsertFieldValue),
        ("InsertField$Value", InsertFieldValue),
    ],
)
def test_kafka_names_and_aliases(name: str, cls: type) -> None:
    assert PLUGINS.find(name).cls is cls


def test_unknown_connector_message_lists_available() -> None:
    with pytest.raises(ConnectException) as info:
        PLUGINS.find("Nope", PluginType.SOURCE, PluginType.SINK)
    assert str(info.value).startswith("Failed to find any class that implements Connector and which name matches Nope")
    assert "org.apache.kafka.connect.file.FileStreamSinkConnector" in str(info.value)
    with pytest.raises(ConnectException):
        PLUGINS.find("JsonConverter", PluginType.SINK)  # exists, wrong kind


def test_ambiguous_alias_is_not_registered() -> None:
    assert "Value" not in PLUGINS.aliases and "Key" not in PLUGINS.aliases


class _EntryPoint:
    def __init__(self, name: str, cls: Any) -> None:
        self.name, self.value, self._cls = name, f"{cls.__module__}:{cls.__qualname__}", cls

    def load(self) -> Any:
        return self._cls


class MyConverter:
    def config(self) -> Any: ...

    def configure(self, configs: Any, is_key: bool = False) -> None: ...

    def from_connect_data(self, topic: str, schema: Any, value: Any) -> bytes | None: ...

    def to_connect_data(self, topic: str, value: Any) -> Any: ...


def test_entry_points_are_discovered(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(group: str) -> list[_EntryPoint]:
        assert group == ENTRY_POINT_GROUP
        return [_EntryPoint("Mine", MyConverter), _EntryPoint("FileStreamSink", FileStreamSinkConnector)]

    monkeypatch.setattr(metadata, "entry_points", fake)
    plugins = Plugins()
    assert plugins.find("Mine", PluginType.CONVERTER).cls is MyConverter
    assert plugins.find(f"{__name__}.MyConverter").cls is MyConverter
    # A built-in declared again as an entry point is not listed twice.
    sinks = [d.class_name for d in plugins.plugins(PluginType.SINK)]
    assert sinks == sorted(name for name, _, types in BUILTINS if PluginType.SINK in types)
    assert sinks.count("org.apache.kafka.connect.file.FileStreamSinkConnector") == 1


def test_plugin_path_folder(tmp_path: Path) -> None:
    (tmp_path / "my_plugin_mod.py").write_text(
        "from odradek.connect.connectors.file import FileStreamSinkConnector\n"
        "class MySink(FileStreamSinkConnector):\n    pass\n",
        encoding="utf-8",
    )
    plugins = Plugins([str(tmp_path)], entry_points=False)
    assert plugins.find("MySink", PluginType.SINK).class_name == "my_plugin_mod.MySink"
    assert plugins.connector_type("my_plugin_mod.MySink") == "sink"


def test_validate_collects_kafka_errors() -> None:
    result = validate(
        PLUGINS,
        {
            "name": "n",
            "connector.class": "FileStreamSource",
            "tasks.max": "0",
            "errors.tolerance": "some",
            "transforms": "a",
            "transforms.a.type": "Nope",
        },
    )
    message = invalid_config_message(result)
    assert message.splitlines() == [
        "Connector configuration is invalid and contains the following 4 error(s):",
        "Invalid value 0 for configuration tasks.max: Value must be at least 1",
        "Invalid value some for configuration errors.tolerance: String must be one of (case insensitive): none, all",
        "Invalid value Nope for configuration transforms.a.type: Class Nope could not be found.",
        'Missing required configuration "topic" which has no default value.',
        "You can also find the above list of errors at the endpoint "
        "`/connector-plugins/{connectorType}/config/validate`",
    ]
    assert result.infos["name"] == "org.apache.kafka.connect.file.FileStreamSourceConnector"


def test_validate_checks_converter_classes() -> None:
    result = validate(
        PLUGINS,
        {
            "name": "n",
            "connector.class": "FileStreamSink",
            "topics": "t",
            "key.converter": "Nope",
            "value.converter": "JsonConverter",
            "header.converter": "org.apache.kafka.connect.json.JsonConverter",
        },
    )
    assert result.error_messages == [
        "Invalid value Nope for configuration key.converter: Class Nope could not be found."
    ]


def test_validate_enriches_transforms_and_predicates() -> None:
    result = validate(
        PLUGINS,
        {
            "name": "n",
            "connector.class": "FileStreamSink",
            "topics": "t",
            "transforms": "ins",
            "transforms.ins.type": "org.apache.kafka.connect.transforms.InsertField$Value",
            "transforms.ins.predicate": "missing",
            "predicates": "p",
            "predicates.p.type": "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
        },
    )
    by_name = {c["value"]["name"]: c for c in result.infos["configs"]}
    assert by_name["transforms.ins.topic.field"]["definition"]["group"] == "Transforms: ins"
    assert by_name["predicates.p.pattern"]["value"]["errors"] == [
        'Missing required configuration "predicates.p.pattern" which has no default value.'
    ]
    assert by_name["transforms.ins.predicate"]["value"]["errors"] == [
        "Invalid value missing for configuration transforms.ins.predicate: Predicate 'missing' not found in "
        "predicates list"
    ]
    assert "Transforms: ins" in result.infos["groups"] and "Predicates: p" in result.infos["groups"]


def test_sink_topic_rules() -> None:
    both = validate(PLUGINS, {"name": "n", "connector.class": "FileStreamSink", "topics": "a", "topics.regex": "b.*"})
    assert "topics and topics.regex are mutually exclusive options, but both are set." in both.error_messages
    dlq = validate(
        PLUGINS,
        {"name": "n", "connector.class": "FileStreamSink", "topics": "a,d", "errors.deadletterqueue.topic.name": "d"},
    )
    assert dlq.error_messages == [
        "The DLQ topic 'd' may not be included in the list of topics ('topics=a,d') consumed by the connector"
    ]
    with pytest.raises(ConnectException, match="contains no connector type"):
        validate(PLUGINS, {"name": "n"})


def test_worker_config_defaults_and_prefixes() -> None:
    config = WorkerConfig.parse(
        {"bootstrap.servers": "a:1,b:2", "producer.linger.ms": "7", "value.converter.schemas.enable": "false"}
    )
    assert config["bootstrap.servers"] == ["a:1", "b:2"]
    assert config["key.converter"] == "org.apache.kafka.connect.json.JsonConverter"
    assert config["offset.flush.interval.ms"] == 60000 and config["listeners"] == ["http://:8083"]
    assert config.prefixed("producer.") == {"linger.ms": "7"}
    assert config.prefixed("value.converter.") == {"schemas.enable": "false"}
    assert all(key.documentation for key in WORKER_CONFIG.keys.values())


def test_java_properties() -> None:
    text = (
        "# comment\n! also\nkey=value\nspaced : x y \nnosep\nmulti=one, \\\n    two\nesc\\=key=a\\tb\\u00e9\n"
        "empty=\n  indented = v\n"
    )
    assert parse_properties(text) == {
        "key": "value",
        "spaced": "x y ",
        "nosep": "",
        "multi": "one, two",
        "esc=key": "a\tbé",
        "empty": "",
        "indented": "v",
    }


def test_config_providers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "secrets.properties"
    secrets.write_text("db.password=hunter2\n", encoding="utf-8")
    (tmp_path / "token").write_text("tok", encoding="utf-8")
    monkeypatch.setenv("MY_USER", "alice")
    transformer = ConfigTransformer.from_worker_config(
        {
            "config.providers": "file,env,dir",
            "config.providers.file.class": "org.apache.kafka.common.config.provider.FileConfigProvider",
            "config.providers.env.class": "EnvVarConfigProvider",
            "config.providers.dir.class": "DirectoryConfigProvider",
        }
    )
    resolved = transformer.transform(
        {
            "password": f"${{file:{secrets}:db.password}}",
            "user": "${env:MY_USER}",
            "token": f"${{dir:{tmp_path}:token}}",
            "mixed": "u=${env:MY_USER};",
            "unknown": "${vault:x:y}",
            "missing": "${env:NOT_SET_ANYWHERE_X}",
        }
    )
    assert resolved == {
        "password": "hunter2",
        "user": "alice",
        "token": "tok",
        "mixed": "u=alice;",
        "unknown": "${vault:x:y}",
        "missing": "${env:NOT_SET_ANYWHERE_X}",
    }
