"""Shared pieces of the command-line tools: errors, property parsing, client configuration, bounded waits.

Every tool talks to brokers through confluent-kafka (DESIGN.md section 3). Expected failures (bad arguments,
unknown topics, an unreachable broker) are raised as `CliError` and printed by `main` as one line on stderr.
"""

from __future__ import annotations

import argparse
import concurrent.futures
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


def parse_key_values(text: str, *, separator: str = ",") -> dict[str, str]:
    """Parse `k=v,k2=v2` (Kafka's `--add-config` / `--property` syntax). Values may be empty; keys may not."""
    result: dict[str, str] = {}
    for item in text.split(separator):
        item = item.strip()
        if not item:
            continue
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise CliError(f'Invalid property "{item}": expected the format key=value')
        result[key.strip()] = value.strip()
    return result


def parse_assignments(items: Iterable[str] | None) -> dict[str, str]:
    """Merge repeated `--config k=v` style options; each item may itself hold `k=v,k2=v2`."""
    result: dict[str, str] = {}
    for item in items or ():
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise CliError(f'Invalid property "{item}": expected the format key=value')
        result[key.strip()] = value.strip()
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


def add_bootstrap_options(parser: argparse.ArgumentParser, *, config_flag: str = "--command-config") -> None:
    """`--bootstrap-server` and a client properties file option, as Kafka's tools have them."""
    parser.add_argument(
        "--bootstrap-server",
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


def client_config(args: argparse.Namespace, extra: Mapping[str, str] | None = None, **defaults: Any) -> dict[str, Any]:
    """Client configuration: defaults < --command-config file < per-tool extras; bootstrap from the flag.

    librdkafka's own logging is silenced (log_level 0): connection failures surface as `CliError` instead.
    """
    config: dict[str, Any] = {"log_level": 0, **defaults}
    if getattr(args, "command_config", None):
        config.update(load_properties_file(args.command_config))
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
