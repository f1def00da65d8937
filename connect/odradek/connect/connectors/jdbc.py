"""What the JDBC source and sink share: connection settings, URL translation, and the Connect <-> PostgreSQL types.

`connection.url` is accepted as JDBC writes it, `jdbc:postgresql://host[:port]/database[?user=..&password=..&..]`,
or as a libpq URI (`postgresql://...`) or key/value string; `connection.user` / `connection.password` override what
the URL says. Only PostgreSQL is spoken (psycopg 3); other JDBC subprotocols are refused by validation.

Types (Confluent's PostgreSqlDatabaseDialect, both directions):

| Connect | PostgreSQL (sink, auto.create) | PostgreSQL read by the source |
|---|---|---|
| INT8, INT16 | SMALLINT | smallint -> INT16 |
| INT32 | INT | integer, serial -> INT32 |
| INT64 | BIGINT | bigint, bigserial -> INT64 |
| FLOAT32 | REAL | real -> FLOAT32 |
| FLOAT64 | DOUBLE PRECISION | double precision -> FLOAT64 |
| BOOLEAN | BOOLEAN | boolean -> BOOLEAN |
| STRING | TEXT | text, varchar, char, and any other type as its text -> STRING |
| BYTES | BYTEA | bytea -> BYTES |
| Decimal (scale s) | DECIMAL | numeric(p, s) -> Decimal(s) |
| Date | DATE | date -> Date |
| Time | TIME | time -> Time |
| Timestamp | TIMESTAMP | timestamp, timestamptz -> Timestamp |

Sessions run with `TimeZone=UTC` (`db.timezone`), so a TIMESTAMP column holds UTC wall-clock time.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

from odradek.connect.api.data import (
    DATE_LOGICAL_NAME,
    DECIMAL_LOGICAL_NAME,
    TIME_LOGICAL_NAME,
    TIMESTAMP_LOGICAL_NAME,
    Schema,
    Type,
    decimal_schema,
    primitive,
)
from odradek.connect.api.errors import ConnectException
from odradek.connect.config.configdef import ConfigDef, ConfigException, ConfigType, Importance, LambdaValidator, Range

CONNECTION_GROUP = "Database"


def _check_url(name: str, value: Any) -> None:
    try:
        conninfo(str(value or ""), "", "")
    except ConnectException as exc:
        raise ConfigException(name, value, str(exc)) from None


def define_connection(defn: ConfigDef) -> ConfigDef:
    """The connection.* keys of Confluent's JDBC connectors."""
    return (
        defn.define(
            "connection.url",
            ConfigType.STRING,
            validator=LambdaValidator(_check_url, "jdbc:postgresql://host:port/database"),
            importance=Importance.HIGH,
            documentation="JDBC connection URL. For example: jdbc:postgresql://localhost:5432/mydb",
            group=CONNECTION_GROUP,
            order_in_group=1,
        )
        .define(
            "connection.user",
            ConfigType.STRING,
            None,
            None,
            Importance.HIGH,
            "JDBC connection user.",
            CONNECTION_GROUP,
            2,
        )
        .define(
            "connection.password",
            ConfigType.PASSWORD,
            None,
            None,
            Importance.HIGH,
            "JDBC connection password.",
            CONNECTION_GROUP,
            3,
        )
        .define(
            "connection.attempts",
            ConfigType.INT,
            3,
            Range.at_least(1),
            Importance.LOW,
            "Maximum number of attempts to retrieve a valid JDBC connection.",
            CONNECTION_GROUP,
            4,
        )
        .define(
            "connection.backoff.ms",
            ConfigType.LONG,
            10000,
            Range.at_least(0),
            Importance.LOW,
            "Backoff time in milliseconds between connection attempts.",
            CONNECTION_GROUP,
            5,
        )
        .define(
            "db.timezone",
            ConfigType.STRING,
            "UTC",
            None,
            Importance.MEDIUM,
            "Name of the JDBC timezone used in the connector when querying with time-based criteria.",
            CONNECTION_GROUP,
            6,
        )
    )


def conninfo(url: str, user: str | None, password: str | None) -> str:
    """A libpq connection string for a JDBC (or libpq) URL; raises ConnectException for another database."""
    text = url.strip()
    if text.startswith("jdbc:"):
        text = text[len("jdbc:") :]
        if not text.startswith("postgresql://"):
            raise ConnectException(f"only jdbc:postgresql:// URLs are supported, not {url.split('//')[0]}")
    if text.startswith(("postgresql://", "postgres://")):
        parts = urllib.parse.urlsplit(text)
        params: dict[str, str] = {k: v[-1] for k, v in urllib.parse.parse_qs(parts.query).items()}
        fields: dict[str, str | None] = {
            "host": parts.hostname or "localhost",
            "port": str(parts.port or 5432),
            "dbname": urllib.parse.unquote(parts.path.lstrip("/")) or None,
            "user": urllib.parse.unquote(parts.username) if parts.username else params.pop("user", None),
            "password": urllib.parse.unquote(parts.password) if parts.password else params.pop("password", None),
        }
        # JDBC-only parameters libpq does not know are dropped; sslmode, application_name and the like pass.
        libpq = {k: v for k, v in params.items() if k in _LIBPQ_PARAMS}
        fields.update(libpq)
    elif "=" in text:
        fields = {k: v for k, _, v in (item.partition("=") for item in text.split())}
    else:
        raise ConnectException(f"not a PostgreSQL connection URL: {url!r}")
    if user:
        fields["user"] = user
    if password:
        fields["password"] = password
    return " ".join(f"{k}={_quote(v)}" for k, v in fields.items() if v)


_LIBPQ_PARAMS = frozenset(
    {
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "application_name",
        "connect_timeout",
        "options",
        "target_session_attrs",
    }
)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def connect(parsed: Mapping[str, Any], autocommit: bool = False) -> Any:
    """A psycopg connection with the session time zone set (connection.attempts tries, connection.backoff.ms)."""
    import time

    import psycopg

    password = parsed.get("connection.password")
    info = conninfo(parsed["connection.url"], parsed.get("connection.user"), password.value if password else None)
    attempts = int(parsed.get("connection.attempts", 1))
    for attempt in range(1, attempts + 1):
        try:
            conn = psycopg.connect(info, autocommit=autocommit, connect_timeout=10)
        except psycopg.OperationalError:
            if attempt == attempts:
                raise
            time.sleep(int(parsed.get("connection.backoff.ms", 0)) / 1000)
            continue
        try:
            conn.execute("SELECT set_config('TimeZone', %s, false)", (parsed.get("db.timezone", "UTC"),))
            if not autocommit:
                conn.commit()
        except BaseException:
            conn.close()
            raise
        return conn
    raise AssertionError("unreachable")


# -- types ---------------------------------------------------------------------------------------------------


def logical(type_: Type, name: str, optional: bool) -> Schema:
    return Schema(type_, optional, name=name, version=1)


def column_schema(data_type: str, numeric_scale: int | None, nullable: bool) -> Schema:
    """The Connect schema of a column from information_schema.columns.data_type (source side)."""
    t = data_type.lower()
    simple = {
        "smallint": Type.INT16,
        "integer": Type.INT32,
        "bigint": Type.INT64,
        "real": Type.FLOAT32,
        "double precision": Type.FLOAT64,
        "boolean": Type.BOOLEAN,
        "bytea": Type.BYTES,
    }
    if t in simple:
        return primitive(simple[t], nullable)
    if t == "numeric":
        return decimal_schema(numeric_scale or 0, nullable)
    if t == "date":
        return logical(Type.INT32, DATE_LOGICAL_NAME, nullable)
    if t.startswith("time without") or t == "time":
        return logical(Type.INT32, TIME_LOGICAL_NAME, nullable)
    if t.startswith("timestamp"):
        return logical(Type.INT64, TIMESTAMP_LOGICAL_NAME, nullable)
    return primitive(Type.STRING, nullable)


def sql_type(schema: Schema) -> str:
    """The PostgreSQL column type for a Connect schema (sink side, auto.create / auto.evolve)."""
    if schema.name == DECIMAL_LOGICAL_NAME:
        return "DECIMAL"
    if schema.name == DATE_LOGICAL_NAME:
        return "DATE"
    if schema.name == TIME_LOGICAL_NAME:
        return "TIME"
    if schema.name == TIMESTAMP_LOGICAL_NAME:
        return "TIMESTAMP"
    mapping = {
        Type.INT8: "SMALLINT",
        Type.INT16: "SMALLINT",
        Type.INT32: "INT",
        Type.INT64: "BIGINT",
        Type.FLOAT32: "REAL",
        Type.FLOAT64: "DOUBLE PRECISION",
        Type.BOOLEAN: "BOOLEAN",
        Type.STRING: "TEXT",
        Type.BYTES: "BYTEA",
    }
    if schema.type not in mapping:
        raise ConnectException(f"No PostgreSQL type for Connect schema {schema.type.name} (arrays, maps, structs)")
    return mapping[schema.type]
