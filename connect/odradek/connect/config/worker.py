"""Worker configuration: every key a standalone worker reads, with Kafka's names, declared once.

docs/connect-configuration.md is generated from `WORKER_CONFIG` (`python -m odradek.connect.config.docs`).
Besides the declared keys a worker accepts these prefixes, passed on with the prefix removed:
`producer.*` (source tasks' and the DLQ producer), `consumer.*` (sink tasks' consumers), `admin.*` (the admin
client creating DLQ topics), `key.converter.*`, `value.converter.*`, `header.converter.*` (converter settings),
`config.providers.*` (config providers). Unknown keys are logged and ignored, as
Kafka's AbstractConfig does ("The configuration '...' was supplied but isn't a known config.").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from odradek.connect.config.configdef import ConfigDef, ConfigType, Importance, Range, ValidString

log = logging.getLogger(__name__)

CLIENT_PREFIXES = ("producer.", "consumer.", "admin.")
WORKER_PREFIXES = (
    *CLIENT_PREFIXES,
    "key.converter.",
    "value.converter.",
    "header.converter.",
    "config.providers.",
    "listeners.https.",
)

WORKER_CONFIG = (
    ConfigDef()
    .define(
        "bootstrap.servers",
        ConfigType.LIST,
        "localhost:9092",
        None,
        Importance.HIGH,
        "A list of host/port pairs used to establish the initial connection to the Kafka cluster: "
        "host1:port1,host2:port2,... Passed to every producer, consumer and admin client of the worker.",
    )
    .define(
        "key.converter",
        ConfigType.CLASS,
        "org.apache.kafka.connect.json.JsonConverter",
        None,
        Importance.HIGH,
        "Converter class for record keys, by Kafka class name, alias or Python path. Connectors may override it.",
    )
    .define(
        "value.converter",
        ConfigType.CLASS,
        "org.apache.kafka.connect.json.JsonConverter",
        None,
        Importance.HIGH,
        "Converter class for record values. Connectors may override it.",
    )
    .define(
        "header.converter",
        ConfigType.CLASS,
        "org.apache.kafka.connect.storage.SimpleHeaderConverter",
        None,
        Importance.LOW,
        "HeaderConverter class for record headers. Connectors may override it.",
    )
    .define(
        "offset.storage.file.filename",
        ConfigType.STRING,
        None,
        None,
        Importance.HIGH,
        "Standalone mode: the file where source connector offsets are stored (JSON, written atomically). "
        "Required by connect-standalone.",
    )
    .define(
        "offset.flush.interval.ms",
        ConfigType.LONG,
        60000,
        Range.at_least(0),
        Importance.LOW,
        "Interval at which to try committing offsets for tasks (source offsets to the offset file, sink offsets "
        "to the connector's consumer group).",
    )
    .define(
        "offset.flush.timeout.ms",
        ConfigType.LONG,
        5000,
        Range.at_least(0),
        Importance.LOW,
        "Maximum time in milliseconds to wait for records to be acknowledged and offsets committed before "
        "cancelling the commit and retrying at the next interval.",
    )
    .define(
        "task.shutdown.graceful.timeout.ms",
        ConfigType.LONG,
        5000,
        Range.at_least(0),
        Importance.LOW,
        "Time to wait for a task to shut down gracefully before the worker gives up on it (its thread is left "
        "to finish on its own and its status becomes UNASSIGNED).",
    )
    .define(
        "listeners",
        ConfigType.LIST,
        "http://:8083",
        None,
        Importance.LOW,
        "REST API listeners, `http://host:port`, each one served; an empty host binds all interfaces, port 0 picks "
        "a free port; the first is the advertised one. Only http is served in this version.",
    )
    .define(
        "rest.advertised.host.name",
        ConfigType.STRING,
        None,
        None,
        Importance.LOW,
        "The host name shown as worker_id in statuses (default: the listener's host, or the machine's name).",
    )
    .define(
        "rest.advertised.port",
        ConfigType.INT,
        None,
        None,
        Importance.LOW,
        "The port shown in worker_id (default: the listener's bound port).",
    )
    .define(
        "plugin.path",
        ConfigType.LIST,
        None,
        None,
        Importance.LOW,
        "Folders of Python plugin modules: every top-level module or package in each folder is imported and its "
        "connectors, converters, transformations and predicates registered by class name (Java jars are "
        "ignored). Plugins installed as Python packages are found through the entry point group "
        "odradek.connect.plugins without this setting.",
    )
    .define(
        "config.providers",
        ConfigType.LIST,
        "",
        None,
        Importance.LOW,
        "Names of config providers (`config.providers.<name>.class`, `config.providers.<name>.param.*`) used to "
        "resolve ${provider:path:key} references in worker and connector configs.",
    )
    .define(
        "topic.tracking.enable",
        ConfigType.BOOLEAN,
        True,
        None,
        Importance.LOW,
        "Track the topics each connector uses (GET /connectors/{c}/topics, KIP-558).",
    )
    .define(
        "topic.tracking.allow.reset",
        ConfigType.BOOLEAN,
        True,
        None,
        Importance.LOW,
        "Allow PUT /connectors/{c}/topics/reset.",
    )
    .define(
        "connector.client.config.override.policy",
        ConfigType.STRING,
        "All",
        ValidString.in_("All", "None"),
        Importance.MEDIUM,
        "Whether connectors may override client settings with producer.override.*, "
        "consumer.override.* and admin.override.* keys: All (any key) or None.",
    )
    .define(
        "client.id",
        ConfigType.STRING,
        "",
        None,
        Importance.LOW,
        "Prefix of the client.id of the worker's clients (each task's client id is connector-producer-<task> "
        "or connector-consumer-<task>, as in Kafka).",
    )
)


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """Parsed worker settings plus the raw map (prefixed settings are read from `raw`)."""

    values: Mapping[str, Any]
    raw: Mapping[str, str]

    @classmethod
    def parse(cls, props: Mapping[str, str]) -> WorkerConfig:
        for key in props:
            if key not in WORKER_CONFIG.keys and not key.startswith(WORKER_PREFIXES) and not _distributed_key(key):
                log.warning("The configuration '%s' was supplied but isn't a known config.", key)
        return cls(WORKER_CONFIG.parse(props), dict(props))

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def prefixed(self, prefix: str) -> dict[str, str]:
        return {k[len(prefix) :]: v for k, v in self.raw.items() if k.startswith(prefix)}


# Keys of distributed mode, accepted in shared worker files so the same file can serve both modes later.
_DISTRIBUTED_KEYS = frozenset(
    {
        "group.id",
        "config.storage.topic",
        "offset.storage.topic",
        "status.storage.topic",
        "config.storage.replication.factor",
        "offset.storage.replication.factor",
        "status.storage.replication.factor",
        "offset.storage.partitions",
        "status.storage.partitions",
        "scheduled.rebalance.max.delay.ms",
        "connect.protocol",
        "exactly.once.source.support",
        "key.converter.schemas.enable",
        "value.converter.schemas.enable",
    }
)


def _distributed_key(key: str) -> bool:
    return key in _DISTRIBUTED_KEYS
