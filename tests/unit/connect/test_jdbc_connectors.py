"""The JDBC source and sink tasks against Debian's PostgreSQL (tests/postgres_support.py), without a broker.

URL translation; the sink's insert, upsert and update modes, the pk modes, deletes, auto.create types and a missing
table without auto.create; the source's timestamp and bulk modes, batch.max.rows, stored offsets on start, and the
Connect schema of each column type.
"""

from __future__ import annotations

import datetime as dt
import decimal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from odradek.connect.api.data import INT64_SCHEMA, STRING_SCHEMA, Struct, struct_of
from odradek.connect.api.errors import ConnectException
from odradek.connect.api.records import SinkRecord
from odradek.connect.connectors.jdbc import conninfo
from odradek.connect.connectors.jdbc_sink import JdbcSinkConnector, JdbcSinkTask
from odradek.connect.connectors.jdbc_source import JdbcSourceConnector, JdbcSourceTask
from postgres_support import PostgresServer, postgres_missing

if (why := postgres_missing()) is not None:
    pytest.fail(why, pytrace=False)


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


OPENED: list[JdbcSinkTask | JdbcSourceTask] = []


@pytest.fixture(autouse=True)
def stop_tasks() -> Iterator[None]:
    """Every task a test started is stopped (its connection closed) when the test ends."""
    try:
        yield
    finally:
        while OPENED:
            OPENED.pop().stop()


def name() -> str:
    return f"t_{uuid.uuid4().hex[:8]}"


def test_jdbc_urls_translate_to_libpq() -> None:
    assert conninfo("jdbc:postgresql://db:6543/shop?user=a&password=b&sslmode=require&loggerLevel=OFF", None, None) == (
        "host='db' port='6543' dbname='shop' user='a' password='b' sslmode='require'"
    )
    assert (
        conninfo("jdbc:postgresql://db/shop", "u", "p'q")
        == "host='db' port='5432' dbname='shop' user='u' password='p\\'q'"
    )
    assert conninfo("host=h dbname=d", "u", None) == "host='h' dbname='d' user='u'"
    with pytest.raises(ConnectException, match="only jdbc:postgresql"):
        conninfo("jdbc:mysql://db/shop", None, None)


def sink(pg: PostgresServer, **props: str) -> JdbcSinkTask:
    task = JdbcSinkTask()
    OPENED.append(task)
    task.start(
        {
            "connection.url": pg.jdbc_url,
            "connection.user": "odradek",
            **{k.replace("_", "."): v for k, v in props.items()},
        }
    )
    return task


PERSON = struct_of([("id", INT64_SCHEMA), ("name", STRING_SCHEMA)], name="person")


def person(offset: int, pid: int, who: str, topic: str) -> SinkRecord:
    return SinkRecord(topic, 0, None, None, PERSON, Struct(PERSON, {"id": pid, "name": who}), kafka_offset=offset)


def test_sink_insert_mode_with_kafka_primary_key(pg: PostgresServer) -> None:
    table = name()
    task = sink(pg, auto_create="true", pk_mode="kafka")
    task.put([person(0, 1, "a", table), person(1, 1, "a again", table)])
    assert pg.query(
        f"SELECT __connect_topic, __connect_partition, __connect_offset, id, name FROM {table} ORDER BY 3"
    ) == [
        (table, 0, 0, 1, "a"),
        (table, 0, 1, 1, "a again"),
    ]
    key = pg.query(
        "SELECT string_agg(a.attname, ',' ORDER BY a.attname) FROM pg_index i JOIN pg_attribute a"
        " ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
        table,
    )
    assert key == [("__connect_offset,__connect_partition,__connect_topic",)]


def test_sink_upsert_and_update_on_record_value_keys(pg: PostgresServer) -> None:
    table = name()
    upsert = sink(pg, auto_create="true", insert_mode="upsert", pk_mode="record_value", pk_fields="id")
    upsert.put([person(0, 1, "a", table), person(1, 2, "b", table), person(2, 1, "a2", table)])
    assert pg.query(f"SELECT id, name FROM {table} ORDER BY id") == [(1, "a2"), (2, "b")]
    update = sink(pg, insert_mode="update", pk_mode="record_value", pk_fields="id")
    update.put([person(3, 2, "b2", table), person(4, 3, "nobody", table)])
    assert pg.query(f"SELECT id, name FROM {table} ORDER BY id") == [(1, "a2"), (2, "b2")]


def test_sink_missing_table_without_auto_create_fails(pg: PostgresServer) -> None:
    with pytest.raises(ConnectException, match=r"auto\.create is disabled"):
        sink(pg).put([person(0, 1, "a", name())])


def test_sink_auto_create_types(pg: PostgresServer) -> None:
    from odradek.connect.api.data import (
        BOOLEAN_SCHEMA,
        FLOAT64_SCHEMA,
        OPTIONAL_STRING_SCHEMA,
        TIMESTAMP_SCHEMA,
        decimal_schema,
    )

    table = name()
    schema = struct_of(
        [
            ("id", INT64_SCHEMA),
            ("price", decimal_schema(2)),
            ("ratio", FLOAT64_SCHEMA),
            ("ok", BOOLEAN_SCHEMA),
            ("at", TIMESTAMP_SCHEMA),
            ("note", OPTIONAL_STRING_SCHEMA),
        ]
    )
    at = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    value = Struct(
        schema, {"id": 7, "price": decimal.Decimal("1.50"), "ratio": 0.5, "ok": True, "at": at, "note": None}
    )
    sink(pg, auto_create="true", pk_mode="record_value", pk_fields="id").put(
        [SinkRecord(table, 0, None, None, schema, value, kafka_offset=0)]
    )
    columns = pg.query(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = %s"
        " ORDER BY ordinal_position",
        table,
    )
    assert columns == [
        ("id", "bigint", "NO"),
        ("price", "numeric", "NO"),
        ("ratio", "double precision", "NO"),
        ("ok", "boolean", "NO"),
        ("at", "timestamp without time zone", "NO"),
        ("note", "text", "YES"),
    ]
    assert pg.query(f"SELECT price, at FROM {table}") == [(decimal.Decimal("1.50"), at.replace(tzinfo=None))]


def test_sink_config_rules() -> None:
    def errors(props: dict[str, str]) -> list[str]:
        return [
            v.name
            for v in JdbcSinkConnector().validate({"connection.url": "jdbc:postgresql://h/d", **props})
            if v.errors
        ]

    assert errors({}) == []
    assert errors({"insert.mode": "upsert"}) == ["pk.mode"]
    assert errors({"delete.enabled": "true", "pk.mode": "record_value"}) == ["delete.enabled"]
    assert errors({"pk.mode": "kafka", "pk.fields": "a,b"}) == ["pk.fields"]
    assert errors({"connection.url": "mysql://x"}) == ["connection.url"]


class Reader:
    def __init__(self, stored: dict[str, Any]) -> None:
        self.stored = stored

    def offset(self, partition: Any) -> Any:
        return self.stored.get(partition.get("table", "query"))


class SourceContext:
    def __init__(self, stored: dict[str, Any]) -> None:
        self.reader = Reader(stored)

    def offset_storage_reader(self) -> Reader:
        return self.reader


def source(pg: PostgresServer, table: str, stored: dict[str, Any] | None = None, **props: str) -> JdbcSourceTask:
    task = JdbcSourceTask()
    OPENED.append(task)
    task.initialize(SourceContext(stored or {}))  # type: ignore[arg-type]
    task.start(
        {
            "connection.url": pg.jdbc_url,
            "connection.user": "odradek",
            "topic.prefix": "db-",
            "poll.interval.ms": "1",
            "tables": f"public.{table}",
            **{k.replace("_", "."): v for k, v in props.items()},
        }
    )
    return task


def poll_all(task: JdbcSourceTask, polls: int = 6) -> list[Any]:
    out: list[Any] = []
    for _ in range(polls):
        out += task.poll() or []
    return out


def test_source_timestamp_mode_batches_and_stored_offsets(pg: PostgresServer) -> None:
    table = name()
    pg.execute(f"CREATE TABLE {table} (id INT NOT NULL, at TIMESTAMP NOT NULL)")
    for i in range(5):
        pg.execute(f"INSERT INTO {table} VALUES (%s, %s)", i, f"2024-01-0{i + 1} 00:00:00")
    task = source(pg, table, mode="timestamp", timestamp_column_name="at", batch_max_rows="2")
    first = task.poll() or []
    assert [r.value.get("id") for r in first] == [0, 1]  # batch.max.rows
    records = first + poll_all(task)
    assert [r.value.get("id") for r in records] == [0, 1, 2, 3, 4]
    assert records[0].topic == f"db-{table}"
    assert records[0].source_partition == {"protocol": "1", "table": f"odradek.public.{table}"}
    jan3 = int(dt.datetime(2024, 1, 3, tzinfo=dt.UTC).timestamp() * 1000)
    assert records[2].source_offset == {"timestamp": jan3, "timestamp_nanos": 0}
    task.stop()
    resumed = source(
        pg,
        table,
        {f"odradek.public.{table}": {"timestamp": jan3, "timestamp_nanos": 0}},
        mode="timestamp",
        timestamp_column_name="at",
    )
    assert [r.value.get("id") for r in poll_all(resumed)] == [3, 4]
    resumed.stop()


def test_source_bulk_reads_everything_every_interval(pg: PostgresServer) -> None:
    table = name()
    pg.execute(f"CREATE TABLE {table} (id INT, label VARCHAR(10), day DATE, t TIME, raw BYTEA, big BIGINT, r REAL)")
    pg.execute(
        f"INSERT INTO {table} VALUES (1, 'x', '2024-02-03', '04:05:06', '\\x0102', 9, 1.5),"
        " (2, NULL, NULL, NULL, NULL, NULL, NULL)"
    )
    task = source(pg, table, mode="bulk", poll_interval_ms="1")
    records = task.poll() or []
    assert [r.value.get("id") for r in records] == [1, 2]
    time.sleep(0.05)  # past poll.interval.ms: the whole table again
    again = next((batch for batch in (task.poll() for _ in range(3)) if batch), [])
    assert [r.value.get("id") for r in again] == [1, 2]
    first = records[0]
    assert first.source_offset is None
    assert [(f.name, f.schema.type.value, f.schema.name, f.schema.optional) for f in first.value_schema.fields] == [
        ("id", "int32", None, True),
        ("label", "string", None, True),
        ("day", "int32", "org.apache.kafka.connect.data.Date", True),
        ("t", "int32", "org.apache.kafka.connect.data.Time", True),
        ("raw", "bytes", None, True),
        ("big", "int64", None, True),
        ("r", "float32", None, True),
    ]
    assert first.value.get("day") == dt.date(2024, 2, 3) and first.value.get("raw") == b"\x01\x02"
    task.stop()


def test_source_connector_spreads_tables_over_tasks(pg: PostgresServer) -> None:
    tables = sorted(name() for _ in range(3))
    for t in tables:
        pg.execute(f"CREATE TABLE {t} (id SERIAL PRIMARY KEY)")
    connector = JdbcSourceConnector()
    connector.start(
        {
            "connection.url": pg.jdbc_url,
            "connection.user": "odradek",
            "topic.prefix": "db-",
            "mode": "incrementing",
            "incrementing.column.name": "id",
            "table.whitelist": ",".join(tables),
        }
    )
    try:
        configs = connector.task_configs(2)
        assert [c["tables"] for c in configs] == [f"public.{tables[0]},public.{tables[2]}", f"public.{tables[1]}"]
        assert len(connector.task_configs(5)) == 3
    finally:
        connector.stop()


def test_source_connector_reconfigures_when_a_table_appears(pg: PostgresServer) -> None:
    first, later = name(), name()
    pg.execute(f"CREATE TABLE {first} (id SERIAL PRIMARY KEY)")
    requests = threading.Event()

    class Context:
        def request_task_reconfiguration(self) -> None:
            requests.set()

    connector = JdbcSourceConnector()
    connector.initialize(Context())  # type: ignore[arg-type]
    connector.start(
        {
            "connection.url": pg.jdbc_url,
            "connection.user": "odradek",
            "topic.prefix": "db-",
            "mode": "bulk",
            "table.whitelist": f"{first},{later}",
            "table.poll.interval.ms": "100",
        }
    )
    try:
        assert [c["tables"] for c in connector.task_configs(4)] == [f"public.{first}"]
        time.sleep(0.3)
        assert not requests.is_set()  # nothing changed: no reconfiguration
        pg.execute(f"CREATE TABLE {later} (id SERIAL PRIMARY KEY)")
        assert requests.wait(10), "no reconfiguration requested after the table was created"
        assert sorted(c["tables"] for c in connector.task_configs(4)) == sorted([f"public.{first}", f"public.{later}"])
    finally:
        connector.stop()


def test_source_query_mode_runs_the_query_as_a_subquery(pg: PostgresServer) -> None:
    orders, customers = name(), name()
    pg.execute(f"CREATE TABLE {customers} (id INT PRIMARY KEY, who TEXT NOT NULL)")
    pg.execute(f"CREATE TABLE {orders} (id SERIAL PRIMARY KEY, customer INT NOT NULL, total NUMERIC(8,2))")
    pg.execute(f"INSERT INTO {customers} VALUES (1, 'ann'), (2, 'bob')")
    pg.execute(f"INSERT INTO {orders} (customer, total) VALUES (1, 10.50), (2, 3), (1, 7.25)")
    query = f"SELECT o.id, c.who, o.total FROM {orders} o JOIN {customers} c ON c.id = o.customer WHERE o.total > 5"
    task = source(pg, "", mode="incrementing", incrementing_column_name="id", query=query, tables="")
    records = poll_all(task)
    assert [(r.value.get("id"), r.value.get("who"), r.value.get("total")) for r in records] == [
        (1, "ann", decimal.Decimal("10.50")),
        (3, "ann", decimal.Decimal("7.25")),
    ]
    assert {r.topic for r in records} == {"db-"}
    assert records[0].source_partition == {"query": "query"}
    assert [r.source_offset for r in records] == [{"incrementing": 1}, {"incrementing": 3}]
    assert [(f.name, f.schema.type.value, f.schema.name) for f in records[0].value_schema.fields] == [
        ("id", "int32", None),
        ("who", "string", None),
        ("total", "bytes", "org.apache.kafka.connect.data.Decimal"),
    ]
    resumed = source(
        pg,
        "",
        {"query": {"incrementing": 1}},
        mode="incrementing",
        incrementing_column_name="id",
        query=query,
        tables="",
    )
    assert [r.value.get("id") for r in poll_all(resumed)] == [3]
    connector = JdbcSourceConnector()
    props = {"connection.url": pg.jdbc_url, "topic.prefix": "q", "mode": "bulk", "query": query}
    connector.start(props)
    assert connector.task_configs(3) == [props]
    assert [v.name for v in connector.validate({**props, "table.whitelist": orders}) if v.errors] == ["query"]
