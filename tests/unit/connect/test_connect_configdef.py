"""ConfigDef: Kafka's type parsing, error texts, validators, recommenders and the ConfigInfos JSON shape."""

from __future__ import annotations

from typing import Any

import pytest
from odradek.connect.config.configdef import (
    ConfigDef,
    ConfigException,
    ConfigType,
    Importance,
    NonEmptyList,
    NonEmptyString,
    Password,
    Range,
    ValidList,
    ValidString,
    Width,
    config_infos,
    parse_type,
)


@pytest.mark.parametrize(
    ("raw", "type_", "expected"),
    [
        (" TRUE ", ConfigType.BOOLEAN, True),
        ("false", ConfigType.BOOLEAN, False),
        (True, ConfigType.BOOLEAN, True),
        (" 42 ", ConfigType.INT, 42),
        ("-32768", ConfigType.SHORT, -32768),
        ("9223372036854775807", ConfigType.LONG, 2**63 - 1),
        ("1.5", ConfigType.DOUBLE, 1.5),
        (7, ConfigType.DOUBLE, 7.0),
        ("a, b ,c", ConfigType.LIST, ["a", "b", "c"]),
        ("  ", ConfigType.LIST, []),
        (["x", " y"], ConfigType.LIST, ["x", "y"]),
        ("  text ", ConfigType.STRING, "text"),
        ("org.x.Y", ConfigType.CLASS, "org.x.Y"),
    ],
)
def test_parse_type(raw: Any, type_: ConfigType, expected: Any) -> None:
    assert parse_type("k", raw, type_) == expected


@pytest.mark.parametrize(
    ("raw", "type_", "message"),
    [
        ("yes", ConfigType.BOOLEAN, "Invalid value yes for configuration k: Expected value to be either true or false"),
        ("x", ConfigType.INT, "Invalid value x for configuration k: Not a number of type INT"),
        ("2147483648", ConfigType.INT, "Invalid value 2147483648 for configuration k: Not a number of type INT"),
        ("40000", ConfigType.SHORT, "Invalid value 40000 for configuration k: Not a number of type SHORT"),
        ("1.5", ConfigType.LONG, "Invalid value 1.5 for configuration k: Not a number of type LONG"),
        ("abc", ConfigType.DOUBLE, "Invalid value abc for configuration k: Not a number of type DOUBLE"),
        (5, ConfigType.STRING, "Invalid value 5 for configuration k: Expected value to be a string, but it was a int"),
    ],
)
def test_parse_errors_use_kafka_texts(raw: Any, type_: ConfigType, message: str) -> None:
    with pytest.raises(ConfigException) as info:
        parse_type("k", raw, type_)
    assert str(info.value) == message


def test_password_is_hidden_everywhere() -> None:
    secret = parse_type("p", "s3cret", ConfigType.PASSWORD)
    assert isinstance(secret, Password) and secret.value == "s3cret"
    assert str(secret) == repr(secret) == "[hidden]"
    defn = ConfigDef().define("p", ConfigType.PASSWORD, importance=Importance.HIGH, documentation="secret")
    infos = config_infos("x", defn, defn.validate({"p": "s3cret"}))
    assert infos["configs"][0]["value"]["value"] == "[hidden]"
    assert "s3cret" not in repr(infos)


def test_validators() -> None:
    Range.between(1, 5)("r", 3)
    with pytest.raises(ConfigException, match="Value must be at least 1"):
        Range.at_least(1)("r", 0)
    with pytest.raises(ConfigException, match="Value must be no more than 5"):
        Range.between(1, 5)("r", 6)
    with pytest.raises(ConfigException, match="String must be one of: a, b"):
        ValidString.in_("a", "b")("s", "A")
    ValidString.in_case_insensitive("a", "b")("s", "A")
    with pytest.raises(ConfigException, match="String must be non-empty"):
        NonEmptyString()("s", " ")
    with pytest.raises(ConfigException, match="Empty list"):
        NonEmptyList()("l", [])
    with pytest.raises(ConfigException, match="String must be one of: x"):
        ValidList(("x",))("l", ["x", "y"])
    assert str(Range.between(1, 5)) == "[1,...,5]"


def test_define_rejects_invalid_default_and_duplicates() -> None:
    with pytest.raises(ConfigException):
        ConfigDef().define("n", ConfigType.INT, 0, Range.at_least(1))
    with pytest.raises(ValueError, match="defined twice"):
        ConfigDef().define("n", ConfigType.INT, 1).define("n", ConfigType.INT, 1)


def test_parse_missing_required() -> None:
    defn = ConfigDef().define("file", ConfigType.STRING)
    with pytest.raises(ConfigException) as info:
        defn.parse({})
    assert str(info.value) == 'Missing required configuration "file" which has no default value.'


class _Recommender:
    def valid_values(self, name: str, parsed: dict[str, Any]) -> list[Any]:
        return ["json", "avro"] if parsed.get("mode") == "x" else []

    def visible(self, name: str, parsed: dict[str, Any]) -> bool:
        return parsed.get("mode") == "x"


def test_validate_returns_every_key_with_errors_recommendations_and_shape() -> None:
    defn = (
        ConfigDef()
        .define(
            "mode",
            ConfigType.STRING,
            importance=Importance.HIGH,
            documentation="m",
            group="G",
            order_in_group=1,
            width=Width.SHORT,
            display_name="Mode",
            dependents=["format"],
        )
        .define("format", ConfigType.STRING, "json", None, Importance.LOW, "f", "G", 2, recommender=_Recommender())
        .define("size", ConfigType.INT, 10, Range.at_least(1), Importance.LOW, "s", "Other", 1)
    )
    values = defn.validate({"mode": "x", "size": "0", "unknown": "ignored"})
    assert [v.name for v in values] == ["mode", "format", "size"]
    assert values[1].recommended_values == ["json", "avro"] and values[1].visible
    assert values[2].errors == ["Invalid value 0 for configuration size: Value must be at least 1"]
    infos = config_infos("plugin", defn, values)
    assert infos["name"] == "plugin" and infos["error_count"] == 1 and infos["groups"] == ["G", "Other"]
    assert infos["configs"][0] == {
        "definition": {
            "name": "mode",
            "type": "STRING",
            "required": True,
            "default_value": None,
            "importance": "HIGH",
            "documentation": "m",
            "group": "G",
            "order": 1,
            "width": "SHORT",
            "display_name": "Mode",
            "dependents": ["format"],
        },
        "value": {"name": "mode", "value": "x", "recommended_values": [], "errors": [], "visible": True},
    }
    assert infos["configs"][2]["definition"]["default_value"] == "10"
    missing = defn.validate({})
    assert missing[0].errors == ['Missing required configuration "mode" which has no default value.']
    assert missing[1].visible is False
