"""Each SMT and predicate with Kafka's options, on records with and without schemas, through the plugin names
users write (`org.apache.kafka.connect.transforms.X$Value`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from odradek.connect.api.data import (
    INT32_SCHEMA,
    INT64_SCHEMA,
    OPTIONAL_INT32_SCHEMA,
    OPTIONAL_INT64_SCHEMA,
    OPTIONAL_STRING_SCHEMA,
    STRING_SCHEMA,
    Schema,
    Struct,
    Type,
    struct_of,
)
from odradek.connect.api.errors import DataException
from odradek.connect.api.records import Header, SinkRecord, SourceRecord
from odradek.connect.config.configdef import ConfigException
from odradek.connect.config.connector import build_transformation_chain
from odradek.connect.plugins import Plugins, PluginType
from odradek.connect.transforms.routers import format_java_date, java_replacement

PLUGINS = Plugins(entry_points=False)
K = "org.apache.kafka.connect.transforms."
VALUE = struct_of([("id", INT32_SCHEMA), ("name", OPTIONAL_STRING_SCHEMA), ("n", OPTIONAL_INT64_SCHEMA)], name="V")


def smt(name: str, **config: str) -> Any:
    transformation = PLUGINS.new_instance(name if "." in name else K + name, PluginType.TRANSFORMATION)
    transformation.configure(config)
    return transformation


def sink_record(value: Any = None, schema: Schema | None = None, **extra: Any) -> SinkRecord:
    fields: dict[str, Any] = {"timestamp": 1_700_000_000_000, "kafka_offset": 42, **extra}
    return SinkRecord("orders", 3, None, None, schema, value, **fields)


def struct_value() -> Struct:
    return Struct(VALUE, {"id": 1, "name": "a", "n": 5})


def test_insert_field_with_schema() -> None:
    out = smt(
        "InsertField$Value",
        **{
            "topic.field": "t!",
            "partition.field": "p",
            "offset.field": "o",
            "timestamp.field": "ts",
            "static.field": "s",
            "static.value": "v",
        },
    ).apply(sink_record(struct_value(), VALUE))
    assert [f.name for f in out.value_schema.fields] == ["id", "name", "n", "t", "p", "o", "ts", "s"]
    assert out.value_schema.field("t").schema == STRING_SCHEMA
    assert out.value_schema.field("p").schema == OPTIONAL_INT32_SCHEMA
    assert out.value.get("t") == "orders" and out.value.get("p") == 3 and out.value.get("o") == 42
    assert out.value.get("ts") == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)
    assert out.value.get("s") == "v" and out.value_schema.name == "V"


def test_insert_field_schemaless_and_tombstone_and_source_offset() -> None:
    t = smt("InsertField$Value", **{"topic.field": "t", "timestamp.field": "ts", "offset.field": "o"})
    assert t.apply(sink_record({"a": 1})).value == {"a": 1, "t": "orders", "ts": 1_700_000_000_000, "o": 42}
    tombstone = sink_record(None)
    assert t.apply(tombstone) is tombstone
    source = SourceRecord("x", 0, None, None, None, {"a": 1})
    assert t.apply(source).value == {"a": 1, "t": "x", "ts": None}
    with pytest.raises(DataException, match="Offset insertion is only supported for sink connectors"):
        smt("InsertField$Value", **{"offset.field": "o!"}).apply(source)
    with pytest.raises(DataException, match=r"Only Map objects supported in absence of schema for \[field insertion\]"):
        t.apply(sink_record("text"))


def test_insert_field_key() -> None:
    record = SinkRecord("orders", 0, None, {"k": 1}, None, "v", kafka_offset=1)
    assert smt("InsertField$Key", **{"topic.field": "t"}).apply(record).key == {"k": 1, "t": "orders"}


def test_replace_field() -> None:
    t = smt("ReplaceField$Value", exclude="n", renames="id:key,name:label")
    out = t.apply(sink_record(struct_value(), VALUE))
    assert [f.name for f in out.value_schema.fields] == ["key", "label"] and out.value.get("key") == 1
    assert smt("ReplaceField$Value", include="id,n").apply(sink_record({"id": 1, "name": "x", "n": 2})).value == {
        "id": 1,
        "n": 2,
    }
    with pytest.raises(ConfigException, match="Invalid rename mapping: bad"):
        smt("ReplaceField$Value", renames="bad")


def test_mask_field() -> None:
    out = smt("MaskField$Value", fields="name,n").apply(sink_record(struct_value(), VALUE))
    assert out.value.get("name") == "" and out.value.get("n") == 0 and out.value.get("id") == 1
    schemaless = smt("MaskField$Value", fields="secret", replacement="****")
    assert schemaless.apply(sink_record({"secret": "pw", "x": 1})).value == {"secret": "****", "x": 1}
    assert smt("MaskField$Value", fields="n", replacement="9").apply(sink_record({"n": 5})).value == {"n": 9}


def test_extract_and_hoist_field() -> None:
    out = smt("ExtractField$Value", field="name").apply(sink_record(struct_value(), VALUE))
    assert out.value == "a" and out.value_schema == OPTIONAL_STRING_SCHEMA
    assert smt("ExtractField$Value", field="a").apply(sink_record({"a": 3})).value == 3
    with pytest.raises(DataException, match="Unknown field: zz"):
        smt("ExtractField$Value", field="zz").apply(sink_record(struct_value(), VALUE))
    hoisted = smt("HoistField$Value", field="line").apply(sink_record("text", STRING_SCHEMA))
    assert hoisted.value_schema.field("line").schema == STRING_SCHEMA and hoisted.value.get("line") == "text"
    assert smt("HoistField$Value", field="line").apply(sink_record("text")).value == {"line": "text"}


def test_value_to_key() -> None:
    out = smt("ValueToKey", fields="id").apply(sink_record(struct_value(), VALUE))
    assert out.key_schema.field("id").schema == INT32_SCHEMA and out.key.get("id") == 1
    assert smt("ValueToKey", fields="id,name").apply(sink_record({"id": 2, "name": "b", "x": 0})).key == {
        "id": 2,
        "name": "b",
    }
    with pytest.raises(DataException, match="Field does not exist: nope"):
        smt("ValueToKey", fields="nope").apply(sink_record(struct_value(), VALUE))


def test_flatten() -> None:
    inner = struct_of([("city", STRING_SCHEMA)], optional=True)
    outer = struct_of([("id", INT32_SCHEMA), ("address", inner)])
    value = Struct(outer, {"id": 1, "address": Struct(inner, {"city": "Oslo"})})
    out = smt("Flatten$Value", delimiter="_").apply(sink_record(value, outer))
    assert [f.name for f in out.value_schema.fields] == ["id", "address_city"]
    assert out.value_schema.field("address_city").schema.optional  # parent optional => optional
    assert out.value.get("address_city") == "Oslo"
    assert smt("Flatten$Value").apply(sink_record({"a": {"b": {"c": 1}}, "d": 2})).value == {"a.b.c": 1, "d": 2}


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        ("int8", 300, 44),
        ("int32", 3.9, 3),
        ("int64", "12", 12),
        ("float64", True, 1.0),
        ("boolean", "TRUE", True),
        ("boolean", 0, False),
        ("string", 1.0, "1.0"),
        ("string", True, "true"),
        ("int16", -1.5, -1),
    ],
)
def test_cast_whole_value(spec: str, value: Any, expected: Any) -> None:
    assert smt("Cast$Value", spec=spec).apply(sink_record(value)).value == expected


def test_cast_fields_with_schema() -> None:
    out = smt("Cast$Value", spec="id:string,n:int32").apply(sink_record(struct_value(), VALUE))
    assert out.value_schema.field("id").schema.type is Type.STRING and out.value.get("id") == "1"
    assert out.value_schema.field("n").schema == OPTIONAL_INT32_SCHEMA and out.value.get("n") == 5
    with pytest.raises(ConfigException, match="Invalid type found in casting spec: int128"):
        smt("Cast$Value", spec="a:int128")
    with pytest.raises(DataException, match="cannot be applied to a whole value of type STRUCT"):
        smt("Cast$Value", spec="int32").apply(sink_record(struct_value(), VALUE))


def test_header_from_move_and_copy() -> None:
    moved = smt("HeaderFrom$Value", fields="name", headers="who", operation="move").apply(
        sink_record(struct_value(), VALUE)
    )
    assert [f.name for f in moved.value_schema.fields] == ["id", "n"]
    assert moved.headers == (Header("who", OPTIONAL_STRING_SCHEMA, "a"),)
    copied = smt("HeaderFrom$Value", fields="a", headers="h", operation="copy").apply(sink_record({"a": 1}))
    assert copied.value == {"a": 1} and copied.headers == (Header("h", None, 1),)
    with pytest.raises(ConfigException, match="same number of elements"):
        smt("HeaderFrom$Value", fields="a,b", headers="h", operation="copy")


def test_regex_router_uses_java_replacements() -> None:
    t = smt("RegexRouter", regex="(.*)-(?<env>prod|dev)", replacement="$1_${env}")
    assert t.apply(sink_record("v")).topic == "orders"  # no full match: unchanged
    assert t.apply(sink_record("v").new_record(topic="orders-prod")).topic == "orders_prod"
    assert java_replacement(r"a\$1$2") == r"a$1\g<2>"


def test_timestamp_router() -> None:
    t = smt("TimestampRouter")
    assert t.apply(sink_record("v")).topic == "orders-20231114"
    t2 = smt("TimestampRouter", **{"topic.format": "${timestamp}_${topic}", "timestamp.format": "yyyy-MM-dd'T'HH"})
    assert t2.apply(sink_record("v")).topic == "2023-11-14T22_orders"
    assert format_java_date("yy/M/d HH:mm:ss.SSS", dt.datetime(2024, 3, 5, 7, 8, 9, 12000)) == "24/3/5 07:08:09.012"
    with pytest.raises(DataException, match="Timestamp missing on record"):
        t.apply(sink_record("v", timestamp=None))


def chain(**props: str) -> Any:
    return build_transformation_chain(PLUGINS, props)


def test_filter_with_predicates_and_negate() -> None:
    drop_tombstones = chain(
        **{
            "transforms": "f",
            "transforms.f.type": K + "Filter",
            "transforms.f.predicate": "t",
            "predicates": "t",
            "predicates.t.type": K + "predicates.RecordIsTombstone",
        }
    )
    assert drop_tombstones.apply(sink_record(None)) is None
    assert drop_tombstones.apply(sink_record("v")) is not None
    keep_only_orders = chain(
        **{
            "transforms": "f",
            "transforms.f.type": "Filter",
            "transforms.f.predicate": "m",
            "transforms.f.negate": "true",
            "predicates": "m",
            "predicates.m.type": "TopicNameMatches",
            "predicates.m.pattern": "ord.*",
        }
    )
    assert keep_only_orders.apply(sink_record("v")) is not None
    assert keep_only_orders.apply(sink_record("v").new_record(topic="xorders")) is None
    has_header = chain(
        **{
            "transforms": "f",
            "transforms.f.type": "Filter",
            "transforms.f.predicate": "h",
            "predicates": "h",
            "predicates.h.type": "HasHeaderKey",
            "predicates.h.name": "skip",
        }
    )
    assert has_header.apply(sink_record("v", headers=(Header("skip", None, b""),))) is None
    assert has_header.apply(sink_record("v")) is not None


def test_chain_applies_in_order_and_predicate_gates() -> None:
    c = chain(
        **{
            "transforms": "hoist,route",
            "transforms.hoist.type": K + "HoistField$Value",
            "transforms.hoist.field": "line",
            "transforms.route.type": "RegexRouter",
            "transforms.route.regex": "orders",
            "transforms.route.replacement": "o2",
            "transforms.route.predicate": "never",
            "predicates": "never",
            "predicates.never.type": "TopicNameMatches",
            "predicates.never.pattern": "nothing",
        }
    )
    out = c.apply(sink_record("x"))
    assert out.value == {"line": "x"} and out.topic == "orders"
    assert INT64_SCHEMA.type is Type.INT64


def test_drop_and_insert_headers() -> None:
    record = sink_record("v", headers=(Header("a", None, 1), Header("b", None, 2), Header("a", None, 3)))
    assert smt("DropHeaders", headers="a").apply(record).headers == (Header("b", None, 2),)
    inserted = smt("InsertHeader", header="n", **{"value.literal": "42"}).apply(record).headers[-1]
    assert inserted.key == "n" and inserted.value == 42 and inserted.schema is not None
    assert inserted.schema.type is Type.INT8


def test_set_schema_metadata() -> None:
    out = smt("SetSchemaMetadata$Value", **{"schema.name": "com.example.Renamed", "schema.version": "3"}).apply(
        sink_record(struct_value(), VALUE)
    )
    assert out.value_schema.name == "com.example.Renamed" and out.value_schema.version == 3
    assert out.value.schema == out.value_schema and out.value.get("id") == 1
    with pytest.raises(DataException, match="Schema required"):
        smt("SetSchemaMetadata$Value", **{"schema.name": "x"}).apply(sink_record({"a": 1}))
    with pytest.raises(ConfigException, match="Neither schema name nor version configured"):
        smt("SetSchemaMetadata$Key")


@pytest.mark.parametrize(
    ("config", "value", "expected"),
    [
        ({"target.type": "unix"}, dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC), 1704164645000),
        ({"target.type": "unix", "unix.precision": "seconds"}, "2024-01-02", 1704153600),
        (
            {"target.type": "Timestamp", "unix.precision": "microseconds"},
            1704164645000123,
            dt.datetime(2024, 1, 2, 3, 4, 5, 123, tzinfo=dt.UTC),
        ),
        ({"target.type": "Date"}, 1704164645000, dt.date(2024, 1, 2)),
        ({"target.type": "Time"}, 1704164645123, dt.time(3, 4, 5, 123000)),
        ({"target.type": "string", "format": "yyyy/MM/dd HH:mm"}, 1704164645000, "2024/01/02 03:04"),
    ],
)
def test_timestamp_converter_whole_value(config: dict[str, str], value: Any, expected: Any) -> None:
    parse = {"format": "yyyy-MM-dd"} if isinstance(value, str) else {}
    assert smt("TimestampConverter$Value", **{**parse, **config}).apply(sink_record(value)).value == expected


def test_timestamp_converter_field_with_schema() -> None:
    schema = struct_of([("id", INT32_SCHEMA), ("at", STRING_SCHEMA)])
    record = sink_record(Struct(schema, {"id": 1, "at": "2024-01-02T03:04:05.250"}), schema)
    out = smt(
        "TimestampConverter$Value", field="at", **{"target.type": "Timestamp", "format": "yyyy-MM-dd'T'HH:mm:ss.SSS"}
    ).apply(record)
    assert out.value_schema.field("at").schema.name == "org.apache.kafka.connect.data.Timestamp"
    assert out.value.get("at") == dt.datetime(2024, 1, 2, 3, 4, 5, 250000, tzinfo=dt.UTC)
    with pytest.raises(ConfigException, match="requires format option"):
        smt("TimestampConverter$Value", **{"target.type": "string"})
    with pytest.raises(DataException, match="does not match pattern"):
        smt("TimestampConverter$Value", field="at", **{"target.type": "unix", "format": "yyyy"}).apply(record)
