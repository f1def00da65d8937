"""Shared pieces of the command-line tools: errors, property parsing, client configuration, bounded waits.

Every tool talks to brokers through confluent-kafka (DESIGN.md section 3). Expected failures (bad arguments,
unknown topics, an unreachable broker) are raised as `CliError` and printed by `main` as one line on stderr.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
# Upper bound for any single admin operation or metadata probe, in seconds.
ADMIN_TIMEOUT_S = 30.0
# How long a tool waits for the first metadata answer before it declares the broker unreachable.
CONNECT_TIMEOUT_S = 10.0

T = TypeVar("T")


class CliError(Exception):
    """An expected, user-facing failure: printed as one line, exit code 1, no traceback."""


# ConfigCommand's split of --add-config: commas and '=' outside square brackets.
_OUTSIDE_BRACKETS = r"(?=[^\]]*(?:\[|$))"
_ADD_CONFIG_ITEMS = re.compile("," + _OUTSIDE_BRACKETS)
_ADD_CONFIG_PAIR = re.compile(r"\s*=\s*" + _OUTSIDE_BRACKETS)


def parse_add_config(text: str) -> dict[str, str]:
    """`--add-config` as kafka-configs.sh parses it: `k=v,k2=[v1,v2]`, split on the commas outside brackets, each
    item on its '='; keys and values trimmed, square brackets removed from values (Kafka's list syntax:
    `cleanup.policy=[compact,delete]` sets `compact,delete`). Values may be empty; a value holding '=' outside
    brackets is refused, as Kafka refuses it."""
    result: dict[str, str] = {}
    for item in _ADD_CONFIG_ITEMS.split(text):
        pair = _ADD_CONFIG_PAIR.split(item)
        if len(pair) != 2 or not pair[0].strip():
            raise CliError(
                'Invalid entity config: all configs to be added must be in the format "key=val" or "key=[val1,val2]".'
            )
        result[pair[0].strip()] = pair[1].replace("[", "").replace("]", "").strip()
    return result


def parse_key_value_args(items: Iterable[str] | None) -> dict[str, str]:
    """Repeated `--property k=v` / `--config k=v` / `--producer-property k=v` options, as Kafka's
    CommandLineUtils.parseKeyValueArgs reads them: each item is one pair split at its first '='; nothing is
    trimmed and commas are part of the value (`key.separator=,`, `key.separator= | `)."""
    result: dict[str, str] = {}
    for item in items or ():
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise CliError(f"Invalid command line properties: {item}")
        result[key] = value
    return result


def load_properties_file(path: str) -> dict[str, str]:
    """Read a Java-style properties file (`key=value` or `key: value`, `#`/`!` comments)."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        raise CliError(f"Cannot read properties file {path}: {exc.strerror or exc}") from None
    result: dict[str, str] = {}
    for raw in lines:
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        cut = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if cut <= 0:
            raise CliError(f"Invalid line in {path}: {raw!r}")
        result[line[:cut].strip()] = line[cut + 1 :].strip()
    return result


# Kafka (Java) client keys with a librdkafka spelling of their own. Keys not listed pass through unchanged (librdkafka
# shares many names: security.protocol, sasl.mechanism, ssl.key.password, client.id, ...).
_JAVA_RENAMES = {
    "ssl.truststore.location": "ssl.ca.location",
    "ssl.truststore.certificates": "ssl.ca.pem",
    "ssl.keystore.certificate.chain": "ssl.certificate.pem",
    "ssl.keystore.key": "ssl.key.pem",
}
# Java-only keys that mean nothing to librdkafka once the PEM files are named (a PEM truststore has no password).
_JAVA_DROPPED = frozenset(
    {"ssl.truststore.type", "ssl.keystore.type", "ssl.truststore.password", "ssl.keystore.password"}
)


def librdkafka_properties(properties: Mapping[str, str]) -> dict[str, str]:
    """Client properties as Kafka's tools read them (`--command-config`), in librdkafka's keys:

    - `sasl.jaas.config` with Kafka's PlainLoginModule or ScramLoginModule (`... required username="alice"
      password="alice-secret";`) becomes `sasl.username` / `sasl.password`; any other login module is refused (a
      JAAS value never loads code here);
    - PEM stores: `ssl.truststore.location` -> `ssl.ca.location`, `ssl.keystore.location` (one PEM file with the key
      and its chain, as Kafka reads it) -> `ssl.certificate.location` and `ssl.key.location`, inline
      `ssl.truststore.certificates` / `ssl.keystore.certificate.chain` / `ssl.keystore.key` -> `ssl.ca.pem` /
      `ssl.certificate.pem` / `ssl.key.pem`; a store type other than PEM is refused (librdkafka reads PEM);
    - `ssl.endpoint.identification.algorithm=` (empty, Java's "off") -> `none`;
    - librdkafka's own keys (`sasl.username`, `ssl.ca.location`, ...) pass through, so one file may mix both.
    """
    out: dict[str, str] = {}
    for key, value in properties.items():
        if key in ("ssl.truststore.type", "ssl.keystore.type") and value.upper() != "PEM":
            raise CliError(f"{key}={value} is not supported: use PEM files (librdkafka reads PEM)")
        if key in _JAVA_DROPPED:
            continue
        if key == "sasl.jaas.config":
            out.update(_jaas_credentials(value))
        elif key == "ssl.keystore.location":
            out.setdefault("ssl.certificate.location", value)
            out.setdefault("ssl.key.location", value)
        elif key == "ssl.endpoint.identification.algorithm":
            out[key] = value or "none"
        else:
            out[_JAVA_RENAMES.get(key, key)] = value
    return out


def _jaas_credentials(text: str) -> dict[str, str]:
    from odradek.broker.auth.jaas import parse_jaas_config
    from odradek.broker.config.definitions import ConfigError

    try:
        entries = parse_jaas_config(text)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    options = entries[0].options if entries else {}
    if "username" not in options or "password" not in options:
        raise CliError("sasl.jaas.config: the login module needs username and password options")
    return {"sasl.username": options["username"], "sasl.password": options["password"]}


def client_properties(path: str) -> dict[str, str]:
    """A `--command-config` (or `--consumer.config`, `--producer.config`) file, in librdkafka's keys."""
    return librdkafka_properties(load_properties_file(path))


def add_bootstrap_options(
    parser: argparse.ArgumentParser, *, config_flag: str = "--command-config", broker_list: bool = False
) -> None:
    """`--bootstrap-server` and a client properties file option, as Kafka's tools have them (`broker_list`: also
    the deprecated `--broker-list` spelling, which kafka-console-producer and kafka-consumer-perf-test keep)."""
    parser.add_argument(
        "--bootstrap-server",
        *(("--broker-list",) if broker_list else ()),
        default=DEFAULT_BOOTSTRAP,
        metavar="HOST:PORT",
        help=f"broker(s) to connect to (default {DEFAULT_BOOTSTRAP})",
    )
    parser.add_argument(
        config_flag,
        dest="command_config",
        metavar="FILE",
        help="properties file with client configuration (librdkafka / Kafka client key names)",
    )


def tools_version() -> str:
    """What `--version` prints: Odradek's version and the Kafka release whose tools these mirror."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        own = version("odradek")
    except PackageNotFoundError:
        own = "unknown"
    return f"{own} (Odradek; Apache Kafka 3.9 tools)"


def add_version_option(parser: argparse.ArgumentParser) -> None:
    """`--version`, which every Kafka tool has: print the version and exit."""
    parser.add_argument("--version", action="version", version=tools_version(), help="print the version and exit")


def client_config(args: argparse.Namespace, extra: Mapping[str, str] | None = None, **defaults: Any) -> dict[str, Any]:
    """Client configuration: defaults < --command-config file (Kafka's client keys translated by
    `librdkafka_properties`) < per-tool extras; bootstrap from the flag. Every tool that talks to a broker builds
    its clients' configuration here.

    librdkafka's own logging is silenced (log_level 0): connection failures surface as `CliError` instead.
    """
    config: dict[str, Any] = {"log_level": 0, **defaults}
    if getattr(args, "command_config", None):
        config.update(client_properties(args.command_config))
    if extra:
        config.update(extra)
    config["bootstrap.servers"] = args.bootstrap_server
    return config


def describe_kafka_error(exc: BaseException) -> str:
    """One-line text for a confluent-kafka exception or error value."""
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else exc
    if isinstance(err, KafkaError):
        text = err.str()
        name = err.name()
        return text if name in text else f"{text} ({name})"
    return str(err) or type(err).__name__


def kafka_error_code(exc: BaseException) -> int | None:
    """The KafkaError code inside an exception, if any."""
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    return err.code() if isinstance(err, KafkaError) else None


def wait(future: concurrent.futures.Future[T], what: str, timeout_s: float = ADMIN_TIMEOUT_S) -> T:
    """Wait for an admin future with a bound; translate failures into `CliError`."""
    try:
        return future.result(timeout=timeout_s)
    except concurrent.futures.TimeoutError:
        raise CliError(f"Timed out after {timeout_s:.0f} s waiting for {what}") from None
    except KafkaException as exc:
        raise CliError(f"{what} failed: {describe_kafka_error(exc)}") from None


def live_brokers(client: Any) -> set[int]:
    """The registered brokers' ids (DescribeCluster, as Kafka's tools ask; Metadata's broker list may still name a
    broker that has just died, metadata/departed_brokers.py)."""
    return {node.id for node in wait(client.describe_cluster(), "describing the cluster").nodes}


def unreachable(bootstrap: str, exc: BaseException) -> CliError:
    return CliError(f"Cannot reach broker at {bootstrap}: {describe_kafka_error(exc)}")


def admin_client(args: argparse.Namespace) -> Any:
    """An AdminClient for `args.bootstrap_server`, after a bounded metadata probe."""
    admin = kafka_admin().AdminClient(client_config(args))
    probe_metadata(admin, args.bootstrap_server)
    return admin


def kafka_admin() -> Any:
    """The `confluent_kafka.admin` module (implicit re-exports: mypy --strict refuses them)."""
    import confluent_kafka.admin

    return confluent_kafka.admin


def probe_metadata(client: Any, bootstrap: str, topic: str | None = None) -> Any:
    """`list_topics` with a bound; returns the ClusterMetadata or raises `CliError`."""
    try:
        if topic is None:
            return client.list_topics(timeout=CONNECT_TIMEOUT_S)
        return client.list_topics(topic=topic, timeout=CONNECT_TIMEOUT_S)
    except KafkaException as exc:
        raise unreachable(bootstrap, exc) from None


def config_source_name(source: Any) -> str:
    """ConfigEntry.source as Kafka's enum name; confluent-kafka gives a ConfigSource or a plain int."""
    name = getattr(source, "name", None)
    if isinstance(name, str):
        return name
    try:
        return str(kafka_admin().ConfigSource(int(source)).name)
    except ValueError:
        return "UNKNOWN_CONFIG"
