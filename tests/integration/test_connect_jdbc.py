"""The PostgreSQL (JDBC) source and sink end to end: Debian's PostgreSQL started by the test
(tests/postgres_support.py), an Odradek broker, `odradek connect-standalone`, confluent-kafka to produce and read.

- Source, mode=incrementing and mode=timestamp+incrementing (Confluent's `jdbc:postgresql://` URL): rows become
  records with Connect schemas (JsonConverter schemas.enable=true) in `<topic.prefix><table>`; the offsets are
  Confluent's (`{"protocol": "1", "table": "db.schema.table"}` -> `{"incrementing": n}`...); after a restart only
  rows added meanwhile arrive, and an updated row (newer timestamp) is produced again.
- Rows and back: a JdbcSink reads the source's topic into another table it auto-creates (pk.mode=record_value,
  upsert): same rows, same types.
- Sink upsert/delete: keyed records insert, a second record for a key replaces its row, a tombstone deletes it
  (delete.enabled, pk.mode=record_key); after a restart the sink resumes from its committed offsets.
- Validation: bad configs get per-key errors from `PUT /connector-plugins/{name}/config/validate` and a 400 with
  the key named from `POST /connectors`.
"""

from __future__ import annotations

import decimal
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from connect_support import ConnectProcess, write_properties
from it_support import BrokerProcess, ck_consume, ck_create_topic, ck_watermarks, unique_topic, wait_for
from postgres_support import PostgresServer, postgres_missing

pytestmark = pytest.mark.integration

if (why := postgres_missing()) is not None:
    pytest.fail(why, pytrace=False)

JSON = "org.apache.kafka.connect.json.JsonConverter"


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[str], ConnectProcess]]:
    started: list[ConnectProcess] = []

    def make(bootstrap: str) -> ConnectProcess:
        proc = ConnectProcess(tmp_path / f"worker{len(started)}", bootstrap)
        started.append(proc)
        return proc

    try:
        yield make
    finally:
        for proc in started:
            proc.cleanup()


def payloads(bootstrap: str, topic: str, count: int) -> list[dict[str, Any]]:
    return [json.loads(m.value())["payload"] for m in ck_consume(bootstrap, topic, count)]


def rows(pg: PostgresServer, sql: str) -> list[tuple[Any, ...]]:
    """The query's rows, or none while the sink has not created the table (or added the column) yet."""
    import psycopg

    try:
        return pg.query(sql)
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn):
        return []


def count_records(bootstrap: str, topic: str) -> int:
    return ck_watermarks(bootstrap, topic)[1]


def test_source_rows_to_records_offsets_restart_and_back_through_the_sink(
    broker: BrokerProcess, pg: PostgresServer, workers: Callable[[str], ConnectProcess], tmp_path: Path
) -> None:
    suffix = unique_topic("t").replace("-", "_").lower()
    orders, events, copy = f"orders_{suffix}", f"events_{suffix}", f"copy_{suffix}"
    prefix = "pg-"
    pg.execute(
        f"CREATE TABLE {orders} (id SERIAL PRIMARY KEY, name TEXT NOT NULL, amount NUMERIC(10,2),"
        " placed TIMESTAMP NOT NULL, qty SMALLINT, ok BOOLEAN)"
    )
    pg.execute(f"CREATE TABLE {events} (id SERIAL PRIMARY KEY, what TEXT NOT NULL, modified TIMESTAMP NOT NULL)")
    for i in range(3):
        pg.execute(
            f"INSERT INTO {orders} (name, amount, placed, qty, ok) VALUES (%s, %s, %s, %s, %s)",
            f"order {i}",
            decimal.Decimal(f"{i}.25"),
            f"2024-05-0{i + 1} 10:00:00",
            i,
            i % 2 == 0,
        )
        pg.execute(f"INSERT INTO {events} (what, modified) VALUES (%s, now() - interval '1 minute')", f"event {i}")
    for table in (orders, events, copy):
        ck_create_topic(broker.bootstrap, prefix + table)
    common = {
        "connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector",
        "connection.url": pg.jdbc_url,
        "connection.user": "odradek",
        "connection.password": "unused-with-trust",
        "topic.prefix": prefix,
        "poll.interval.ms": "300",
        "batch.max.rows": "2",
        "value.converter": JSON,
        "value.converter.schemas.enable": "true",
    }
    files = [
        write_properties(
            tmp_path / "orders.properties",
            {
                **common,
                "name": "pg-orders",
                "table.whitelist": orders,
                "mode": "incrementing",
                "incrementing.column.name": "id",
            },
        ),
        write_properties(
            tmp_path / "events.properties",
            {
                **common,
                "name": "pg-events",
                "table.include.list": f"public.{events}",
                "mode": "timestamp+incrementing",
                "incrementing.column.name": "id",
                "timestamp.column.name": "modified",
            },
        ),
        write_properties(
            tmp_path / "copy.properties",
            {
                "name": "pg-copy",
                "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
                "topics": prefix + orders,
                "connection.url": f"{pg.jdbc_url}?user=odradek",
                "table.name.format": copy,
                "insert.mode": "upsert",
                "pk.mode": "record_value",
                "pk.fields": "id",
                "auto.create": "true",
                "value.converter": JSON,
                "value.converter.schemas.enable": "true",
            },
        ),
    ]
    worker = workers(broker.bootstrap).start(files)
    first = payloads(broker.bootstrap, prefix + orders, 3)
    placed_ms = 1714557600000  # 2024-05-01T10:00:00Z
    assert first[0] == {
        "id": 1,
        "name": "order 0",
        "amount": "GQ==",  # Decimal 0.25 with scale 2: unscaled 25 (0x19) as big-endian bytes, base64 (JsonConverter)
        "placed": placed_ms,
        "qty": 0,
        "ok": True,
    }
    assert [p["id"] for p in first] == [1, 2, 3]
    schema = json.loads(ck_consume(broker.bootstrap, prefix + orders, 1)[0].value())["schema"]
    assert schema["name"] == orders and [(f["field"], f["type"], f["optional"]) for f in schema["fields"]] == [
        ("id", "int32", False),
        ("name", "string", False),
        ("amount", "bytes", True),
        ("placed", "int64", False),
        ("qty", "int16", True),
        ("ok", "boolean", True),
    ]
    assert [p["what"] for p in payloads(broker.bootstrap, prefix + events, 3)] == ["event 0", "event 1", "event 2"]
    wait_for(
        lambda: worker.rest("GET", "/connectors/pg-orders/offsets")[1]["offsets"] != [], timeout=30, what="offsets"
    )
    wait_for(
        lambda: worker.rest("GET", "/connectors/pg-orders/offsets")[1]["offsets"][0]["offset"] == {"incrementing": 3},
        timeout=30,
        what="the offset of row 3",
    )
    offsets = worker.rest("GET", "/connectors/pg-orders/offsets")[1]["offsets"]
    assert offsets == [
        {"partition": {"protocol": "1", "table": f"odradek.public.{orders}"}, "offset": {"incrementing": 3}}
    ]
    event_offset = wait_for(
        lambda: (worker.rest("GET", "/connectors/pg-events/offsets")[1]["offsets"] or [None])[0],
        timeout=30,
        what="the events offsets",
    )
    assert event_offset["partition"] == {"protocol": "1", "table": f"odradek.public.{events}"}
    assert set(event_offset["offset"]) == {"incrementing", "timestamp", "timestamp_nanos"}
    # Rows and back: the sink's table has the same rows.
    wait_for(lambda: len(rows(pg, f"SELECT id FROM {copy}")) == 3, timeout=30, what="rows copied by the sink")
    assert pg.query(f"SELECT id, name, amount, placed, qty, ok FROM {copy} ORDER BY id") == pg.query(
        f"SELECT id, name, amount, placed, qty, ok FROM {orders} ORDER BY id"
    )
    assert worker.stop() == 0

    pg.execute(f"INSERT INTO {orders} (name, amount, placed) VALUES ('order 3', 9.99, '2024-06-01 00:00:00')")
    pg.execute(f"UPDATE {events} SET what = 'event 1 again', modified = now() - interval '1 second' WHERE id = 2")
    worker.start(files)
    wait_for(lambda: count_records(broker.bootstrap, prefix + orders) >= 4, timeout=30, what="the 4th order")
    wait_for(lambda: count_records(broker.bootstrap, prefix + events) >= 4, timeout=30, what="the updated event")
    time.sleep(2)  # several poll intervals: a row produced again would show up now
    assert [p["id"] for p in payloads(broker.bootstrap, prefix + orders, 4)] == [1, 2, 3, 4]
    assert count_records(broker.bootstrap, prefix + orders) == 4
    assert payloads(broker.bootstrap, prefix + events, 4)[3]["what"] == "event 1 again"
    assert count_records(broker.bootstrap, prefix + events) == 4
    wait_for(lambda: len(rows(pg, f"SELECT id FROM {copy}")) == 4, timeout=30, what="the 4th row copied")
    assert worker.stop() == 0


def schema_value(fields: dict[str, Any]) -> bytes:
    types = {"id": "string", "name": "string", "score": "int64"}
    schema = {
        "type": "struct",
        "name": "person",
        "optional": False,
        "fields": [{"field": k, "type": types[k], "optional": k != "id"} for k in fields],
    }
    return json.dumps({"schema": schema, "payload": fields}).encode()


def produce_keyed(bootstrap: str, topic: str, items: list[tuple[str, bytes | None]]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap})
    for key, value in items:
        producer.produce(topic, key=key.encode(), value=value, partition=0)
    assert producer.flush(30) == 0


def test_sink_upserts_deletes_on_tombstones_and_resumes(
    broker: BrokerProcess, pg: PostgresServer, workers: Callable[[str], ConnectProcess], tmp_path: Path
) -> None:
    topic = unique_topic("people")
    table = topic.replace("-", "_")
    ck_create_topic(broker.bootstrap, topic)
    config = {
        "name": "pg-people",
        "connector.class": "JdbcSink",
        "topics": topic,
        "connection.url": pg.jdbc_url,
        "connection.user": "odradek",
        "table.name.format": "public.${topic}".replace("${topic}", table),
        "insert.mode": "upsert",
        "pk.mode": "record_key",
        "pk.fields": "id",
        "delete.enabled": "true",
        "auto.create": "true",
        "auto.evolve": "true",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": JSON,
        "value.converter.schemas.enable": "true",
    }
    produce_keyed(
        broker.bootstrap,
        topic,
        [
            ("a", schema_value({"name": "Ann"})),
            ("b", schema_value({"name": "Bob"})),
            ("a", schema_value({"name": "Ann B."})),
            ("b", None),
            ("c", schema_value({"name": "Cy"})),
        ],
    )
    worker = workers(broker.bootstrap).start([write_properties(tmp_path / "people.properties", config)])
    wait_for(
        lambda: rows(pg, f"SELECT id, name FROM {table} ORDER BY id") == [("a", "Ann B."), ("c", "Cy")],
        timeout=30,
        what="upserted rows without b",
    )
    columns = pg.query(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = %s"
        " ORDER BY ordinal_position",
        table,
    )
    assert columns == [("id", "text", "NO"), ("name", "text", "YES")]
    assert worker.stop() == 0
    # While the worker is down: a new field (auto.evolve), a replaced row and a tombstone for a row of before.
    produce_keyed(broker.bootstrap, topic, [("d", schema_value({"name": "Di", "score": 7})), ("a", None)])
    worker.start()
    code, _, _ = worker.rest("POST", "/connectors", {"name": "pg-people", "config": config})
    assert code == 201
    wait_for(
        lambda: rows(pg, f"SELECT id, name, score FROM {table} ORDER BY id") == [("c", "Cy", None), ("d", "Di", 7)],
        timeout=30,
        what="the rows after the restart",
    )
    assert worker.stop() == 0


def test_validation_names_the_offending_keys(
    broker: BrokerProcess, pg: PostgresServer, workers: Callable[[str], ConnectProcess]
) -> None:
    worker = workers(broker.bootstrap).start()
    code, body, _ = worker.rest(
        "PUT",
        "/connector-plugins/JdbcSinkConnector/config/validate",
        {
            "name": "v",
            "connector.class": "JdbcSinkConnector",
            "topics": "t",
            "connection.url": "jdbc:mysql://db/x",
            "delete.enabled": "true",
            "pk.mode": "record_value",
        },
    )
    assert code == 200, body
    bad = {c["value"]["name"]: c["value"]["errors"] for c in body["configs"] if c["value"]["errors"]}
    assert sorted(bad) == ["connection.url", "delete.enabled"], bad
    assert body["error_count"] == 2
    code, body, _ = worker.rest(
        "POST",
        "/connectors",
        {
            "name": "bad-source",
            "config": {
                "connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector",
                "connection.url": pg.jdbc_url,
                "topic.prefix": "x-",
                "mode": "incrementing",
            },
        },
    )
    assert code == 400 and body["error_code"] == 400, body
    assert "incrementing.column.name" in body["message"], body
    assert worker.stop() == 0
