"""Converters against Kafka's byte formats: JsonConverter with and without the schema envelope, String,
ByteArray and SimpleHeaderConverter."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import random

import pytest
from odradek.connect.api.data import (
    BOOLEAN_SCHEMA,
    BYTES_SCHEMA,
    DATE_LOGICAL_NAME,
    FLOAT64_SCHEMA,
    INT8_SCHEMA,
    INT32_SCHEMA,
    INT64_SCHEMA,
    OPTIONAL_STRING_SCHEMA,
    STRING_SCHEMA,
    TIMESTAMP_SCHEMA,
    Schema,
    SchemaBuilder,
    Struct,
    Type,
    array,
    decimal_schema,
    map_of,
    struct_of,
)
from odradek.connect.api.errors import DataException
from odradek.connect.converters.json import ENVELOPE_ERROR, JsonConverter
from odradek.connect.converters.simple import ByteArrayConverter, SimpleHeaderConverter, StringConverter


def json_converter(schemas: bool = True, **extra: str) -> JsonConverter:
    converter = JsonConverter()
    converter.configure({"schemas.enable": "true" if schemas else "false", **extra}, False)
    return converter


PERSON = (
    SchemaBuilder.struct()
    .name("com.example.Person")
    .version(2)
    .doc("a person")
    .field("id", INT32_SCHEMA)
    .field("name", OPTIONAL_STRING_SCHEMA)
    .field("tags", array(STRING_SCHEMA))
    .build()
)


def test_struct_envelope_bytes_are_kafkas() -> None:
    value = Struct(PERSON, {"id": 7, "name": "Zoë", "tags": ["a"]})
    data = json_converter().from_connect_data("t", PERSON, value)
    assert (
        data
        == (
            '{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},'
            '{"type":"string","optional":true,"field":"name"},'
            '{"type":"array","items":{"type":"string","optional":false},"optional":false,"field":"tags"}],'
            '"optional":false,"name":"com.example.Person","version":2,"doc":"a person"},'
            '"payload":{"id":7,"name":"Zoë","tags":["a"]}}'
        ).encode()
    )
    back = json_converter().to_connect_data("t", data)
    assert back.schema == PERSON and back.value == value


@pytest.mark.parametrize(
    ("schema", "value", "payload"),
    [
        (INT8_SCHEMA, 12, "12"),
        (INT64_SCHEMA, 2**40, str(2**40)),
        (FLOAT64_SCHEMA, 1.0, "1.0"),
        (BOOLEAN_SCHEMA, True, "true"),
        (BYTES_SCHEMA, b"\x00\xff", '"AP8="'),
        (map_of(INT32_SCHEMA, STRING_SCHEMA), {1: "a"}, '[[1,"a"]]'),
        (map_of(STRING_SCHEMA, INT32_SCHEMA), {"k": 1}, '{"k":1}'),
        (TIMESTAMP_SCHEMA, dt.datetime(2024, 1, 2, tzinfo=dt.UTC), "1704153600000"),
        (Schema(Type.INT32, name=DATE_LOGICAL_NAME, version=1), dt.date(1970, 1, 11), "10"),
        (decimal_schema(2), decimal.Decimal("1.23"), '"ew=="'),  # Java BigInteger(123).toByteArray()
        (decimal_schema(0), decimal.Decimal("128"), '"AIA="'),  # [0x00, 0x80]: sign byte kept
    ],
)
def test_payload_formats_round_trip(schema: Schema, value: object, payload: str) -> None:
    converter = json_converter()
    data = converter.from_connect_data("t", schema, value)
    assert data is not None
    assert json.loads(data)["payload"] == json.loads(payload)
    assert converter.to_connect_data("t", data).value == value


def test_decimal_numeric_format() -> None:
    data = json_converter(**{"decimal.format": "NUMERIC"}).from_connect_data(
        "t", decimal_schema(2), decimal.Decimal("1.5")
    )
    assert data is not None and json.loads(data)["payload"] == 1.5


def test_schemaless_values() -> None:
    converter = json_converter(schemas=False)
    assert converter.from_connect_data("t", None, {"a": [1, 2.5, None, True]}) == b'{"a":[1,2.5,null,true]}'
    read = converter.to_connect_data("t", b'{"n": 3, "f": 1.5, "s": "x"}')
    assert read.schema is None and read.value == {"n": 3, "f": 1.5, "s": "x"}


class Text(str):
    pass


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            {"id": 7, "pad": "xé", "f": 1.5, "ok": False, "none": None},
            b'{"id":7,"pad":"x\xc3\xa9","f":1.5,"ok":false,"none":null}',
        ),
        ([{"a": [1, [2, {"b": "c"}]]}, "s"], b'[{"a":[1,[2,{"b":"c"}]]},"s"]'),
        # Not plain JSON types: Kafka's conversion, not json.dumps's.
        ({1: "one", 2: "two"}, b'[[1,"one"],[2,"two"]]'),  # a map with non-string keys: pairs
        ({"raw": b"\x00\xff"}, b'{"raw":"AP8="}'),  # bytes: base64
        ({"t": (1, 2)}, b'{"t":[1,2]}'),
        ({"d": {"inner": {3: True}}}, b'{"d":{"inner":[[3,true]]}}'),
        (Text("sub"), b'"sub"'),
    ],
)
def test_schemaless_values_plain_or_not_write_kafkas_json(value: object, expected: bytes) -> None:
    assert json_converter(schemas=False).from_connect_data("t", None, value) == expected


def random_value(rng: random.Random, depth: int = 0) -> object:
    """Schemaless values: mostly plain JSON types, some not (bytes, tuples, int keys, str subclasses) at any depth."""
    kind = rng.randrange(12 if depth < 4 else 7)
    scalars: list[object] = [None, True, rng.randrange(-(2**70), 2**70), rng.random() * 1e6, 'x\u00e9"\n', b"\x01"]
    if kind < 6:
        return scalars[kind]
    if kind == 6:
        return Text("sub")
    if kind in (7, 8):
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 9:
        return tuple(random_value(rng, depth + 1) for _ in range(rng.randrange(3)))
    keys: list[object] = ["a", "b", "c", 1 if kind == 10 else "d"]
    return {rng.choice(keys): random_value(rng, depth + 1) for _ in range(rng.randrange(4))}


@pytest.mark.parametrize("schemas", [False, True])
def test_schemaless_fast_path_writes_what_the_full_conversion_writes(schemas: bool) -> None:
    from odradek.connect.converters.json import _to_json, dumps

    converter, rng = json_converter(schemas=schemas), random.Random(13)
    for _ in range(2000):
        value = random_value(rng)
        if value is None:
            continue
        payload = _to_json(None, value, converter.decimal_format, converter.replace_null_with_default)
        expected = dumps({"schema": None, "payload": payload} if schemas else payload)
        assert converter.from_connect_data("t", None, value) == expected, value


def test_tombstones_and_nulls() -> None:
    converter = json_converter()
    assert converter.from_connect_data("t", None, None) is None
    assert converter.to_connect_data("t", None).value is None
    optional = struct_of([("a", INT32_SCHEMA)], optional=True)
    assert converter.from_connect_data("t", optional, None) == (
        b'{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"a"}],"optional":true},'
        b'"payload":null}'
    )
    with pytest.raises(DataException, match="null value for field that is required"):
        converter.from_connect_data("t", INT32_SCHEMA, None)


def test_default_replaces_null_unless_disabled() -> None:
    with_default = SchemaBuilder(Type.INT32).optional().default(5).build()
    schema = struct_of([("a", with_default)])
    value = Struct(schema)
    assert json.loads(json_converter().from_connect_data("t", schema, value) or b"")["payload"] == {"a": 5}
    off = json_converter(**{"replace.null.with.default": "false"})
    assert json.loads(off.from_connect_data("t", schema, value) or b"")["payload"] == {"a": None}


@pytest.mark.parametrize("data", [b'{"a":1}', b'{"schema":null}', b'{"schema":null,"payload":1,"x":2}', b"[1]"])
def test_envelope_required_with_schemas(data: bytes) -> None:
    with pytest.raises(DataException) as info:
        json_converter().to_connect_data("t", data)
    assert str(info.value) == ENVELOPE_ERROR


def test_bad_json_and_bad_types() -> None:
    with pytest.raises(DataException, match="Converting byte\\[\\] to Kafka Connect data failed"):
        json_converter().to_connect_data("t", b"not json")
    with pytest.raises(DataException):
        json_converter().to_connect_data("t", b'{"schema":{"type":"int32","optional":false},"payload":"x"}')
    with pytest.raises(DataException, match="Unknown schema type: nope"):
        json_converter().to_connect_data("t", b'{"schema":{"type":"nope"},"payload":1}')


def test_string_converter() -> None:
    converter = StringConverter()
    converter.configure({}, False)
    assert converter.from_connect_data("t", None, True) == b"true"
    assert converter.from_connect_data("t", STRING_SCHEMA, "é") == "é".encode()
    assert converter.from_connect_data("t", None, None) is None
    latin = StringConverter()
    latin.configure({"converter.encoding": "ISO-8859-1"})
    assert latin.from_connect_data("t", None, "é") == b"\xe9"
    assert latin.to_connect_data("t", b"\xe9").value == "é"
    assert converter.to_connect_data("t", b"x").schema == OPTIONAL_STRING_SCHEMA


def test_byte_array_converter() -> None:
    converter = ByteArrayConverter()
    assert converter.from_connect_data("t", BYTES_SCHEMA, b"\x01") == b"\x01"
    with pytest.raises(DataException, match="Invalid schema type for ByteArrayConverter: STRING"):
        converter.from_connect_data("t", STRING_SCHEMA, "x")
    assert converter.to_connect_data("t", b"\x02").value == b"\x02"


@pytest.mark.parametrize(
    ("text", "type_", "value"),
    [
        ("true", Type.BOOLEAN, True),
        ("12", Type.INT8, 12),
        ("300", Type.INT16, 300),
        ("70000", Type.INT32, 70000),
        ("5000000000", Type.INT64, 5000000000),
        ("1.5", Type.FLOAT64, 1.5),
        ("hello", Type.STRING, "hello"),
    ],
)
def test_simple_header_converter_infers_types(text: str, type_: Type, value: object) -> None:
    converter = SimpleHeaderConverter()
    read = converter.to_connect_header("t", "h", text.encode())
    assert read.schema is not None and read.schema.type is type_ and read.value == value
    assert converter.from_connect_header("t", "h", read.schema, read.value) == text.encode()


def test_simple_header_converter_json_like() -> None:
    converter = SimpleHeaderConverter()
    assert converter.from_connect_header("t", "h", None, [1, 2]) == b"[1,2]"
    assert converter.to_connect_header("t", "h", b'{"a":1}').value == {"a": 1}
    assert converter.to_connect_header("t", "h", None).value is None
