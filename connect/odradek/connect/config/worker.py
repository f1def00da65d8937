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
        "REST API listeners, `http://host:port` and `https://host:port`, each one served; an empty host binds all "
        "interfaces, port 0 picks a free port. https listeners use the ssl.* keys (or listeners.https.ssl.*).",
    )
    .define(
        "rest.advertised.listener",
        ConfigType.STRING,
        None,
        None,
        Importance.LOW,
        "The listener scheme (http or https) other workers reach this one with; default: http when an http "
        "listener exists, else https.",
    )
    .define(
        "rest.advertised.host.name",
        ConfigType.STRING,
        None,
        None,
        Importance.LOW,
        "The host name other workers reach this one at, also its worker_id in statuses (default: the advertised "
        "listener's host, or the machine's name).",
    )
    .define(
        "rest.advertised.port",
        ConfigType.INT,
        None,
        None,
        Importance.LOW,
        "The port other workers reach this one at (default: the advertised listener's bound port).",
    )
    .define(
        "rest.extension.classes",
        ConfigType.LIST,
        "",
        None,
        Importance.LOW,
        "REST extensions: org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension turns "
        "on basic authentication with the users of the JAAS file in KAFKA_OPTS (docs/connect.md, REST security).",
    )
    .define(
        "ssl.keystore.type",
        ConfigType.STRING,
        "JKS",
        None,
        Importance.MEDIUM,
        "Type of the https listener's keystore; only PEM is read (the private key then the certificate chain).",
    )
    .define(
        "ssl.keystore.location",
        ConfigType.STRING,
        None,
        None,
        Importance.HIGH,
        "The https listener's keystore file (PEM); also the client certificate of requests forwarded over https.",
    )
    .define(
        "ssl.keystore.password",
        ConfigType.PASSWORD,
        None,
        None,
        Importance.HIGH,
        "Password of the keystore; used for the PEM private key when ssl.key.password is not set.",
    )
    .define(
        "ssl.key.password",
        ConfigType.PASSWORD,
        None,
        None,
        Importance.HIGH,
        "Password of the encrypted private key in the PEM keystore.",
    )
    .define(
        "ssl.truststore.type",
        ConfigType.STRING,
        "JKS",
        None,
        Importance.MEDIUM,
        "Type of the truststore; only PEM is read (CA certificates).",
    )
    .define(
        "ssl.truststore.location",
        ConfigType.STRING,
        None,
        None,
        Importance.HIGH,
        "CA certificates (PEM) trusted for client certificates and for other workers' https listeners.",
    )
    .define(
        "ssl.truststore.password",
        ConfigType.PASSWORD,
        None,
        None,
        Importance.HIGH,
        "Accepted for Kafka's configs; a PEM truststore has no password.",
    )
    .define(
        "ssl.client.authentication",
        ConfigType.STRING,
        "none",
        ValidString.in_case_insensitive("none", "requested", "required"),
        Importance.LOW,
        "Client certificates on https listeners: none, requested (verified when given) or required.",
    )
    .define(
        "ssl.endpoint.identification.algorithm",
        ConfigType.STRING,
        "https",
        None,
        Importance.LOW,
        "https: requests forwarded to another worker's https URL check its certificate's host name; empty: no check.",
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
        "group.id",
        ConfigType.STRING,
        "connect-cluster",
        None,
        Importance.HIGH,
        "Distributed mode: the Connect group this worker belongs to (protocol type connect on the group "
        "coordinator). Workers with the same group.id share connectors and tasks.",
    )
    .define(
        "config.storage.topic",
        ConfigType.STRING,
        None,
        None,
        Importance.HIGH,
        "Distributed mode: the compacted topic (1 partition) holding connector and task configurations. Required.",
    )
    .define(
        "offset.storage.topic",
        ConfigType.STRING,
        None,
        None,
        Importance.HIGH,
        "Distributed mode: the compacted topic holding source connector offsets. Required.",
    )
    .define(
        "status.storage.topic",
        ConfigType.STRING,
        None,
        None,
        Importance.HIGH,
        "Distributed mode: the compacted topic holding connector and task statuses. Required.",
    )
    .define(
        "config.storage.replication.factor",
        ConfigType.SHORT,
        3,
        None,
        Importance.LOW,
        "Replication factor of the config topic when it is created; -1 uses the broker's default.",
    )
    .define(
        "offset.storage.replication.factor",
        ConfigType.SHORT,
        3,
        None,
        Importance.LOW,
        "Replication factor of the offsets topic when it is created; -1 uses the broker's default.",
    )
    .define(
        "status.storage.replication.factor",
        ConfigType.SHORT,
        3,
        None,
        Importance.LOW,
        "Replication factor of the status topic when it is created; -1 uses the broker's default.",
    )
    .define(
        "offset.storage.partitions",
        ConfigType.INT,
        25,
        Range.at_least(1),
        Importance.LOW,
        "Number of partitions of the offsets topic when it is created.",
    )
    .define(
        "status.storage.partitions",
        ConfigType.INT,
        5,
        Range.at_least(1),
        Importance.LOW,
        "Number of partitions of the status topic when it is created.",
    )
    .define(
        "connect.protocol",
        ConfigType.STRING,
        "sessioned",
        ValidString.in_("eager", "compatible", "sessioned"),
        Importance.LOW,
        "Distributed mode's group protocol: eager (stop everything on every rebalance), compatible (incremental "
        "cooperative rebalancing, KIP-415) or sessioned (compatible plus KIP-507 signed internal requests). A "
        "worker also offers the older protocols.",
    )
    .define(
        "scheduled.rebalance.max.delay.ms",
        ConfigType.INT,
        300000,
        Range.at_least(0),
        Importance.LOW,
        "How long the leader waits for a departed worker to come back before its connectors and tasks are "
        "reassigned to the others (incremental cooperative protocols).",
    )
    .define(
        "inter.worker.key.generation.algorithm",
        ConfigType.STRING,
        "HmacSHA256",
        ValidString.in_("HmacSHA256", "HmacSHA1", "HmacSHA384", "HmacSHA512", "HmacMD5"),
        Importance.LOW,
        "KIP-507 (connect.protocol=sessioned): the algorithm of the session key the leader generates.",
    )
    .define(
        "inter.worker.key.size",
        ConfigType.INT,
        None,
        None,
        Importance.LOW,
        "Size in bits of the session key (default: 256, the default of Java's KeyGenerator for HmacSHA256).",
    )
    .define(
        "inter.worker.key.ttl.ms",
        ConfigType.INT,
        3600000,
        Range.at_least(0),
        Importance.LOW,
        "How long a session key is used before the leader generates a new one.",
    )
    .define(
        "inter.worker.signature.algorithm",
        ConfigType.STRING,
        "HmacSHA256",
        ValidString.in_("HmacSHA256", "HmacSHA1", "HmacSHA384", "HmacSHA512", "HmacMD5"),
        Importance.LOW,
        "The algorithm this worker signs internal requests with.",
    )
    .define(
        "inter.worker.verification.algorithms",
        ConfigType.LIST,
        "HmacSHA256",
        None,
        Importance.LOW,
        "The algorithms the leader accepts on signed internal requests.",
    )
    .define(
        "exactly.once.source.support",
        ConfigType.STRING,
        "disabled",
        ValidString.in_case_insensitive("disabled", "preparing", "enabled"),
        Importance.HIGH,
        "Distributed mode (KIP-618): whether to enable exactly-once support for source connectors in the cluster "
        "by using transactions to write source records and their source offsets, and by fencing out the previous "
        "instance of each task (its transactional.id) before the new one runs. To enable exactly-once source "
        "support on a new cluster, set this property to 'enabled'. To enable support on an existing cluster, "
        "first set to 'preparing' on every worker in the cluster, then set to 'enabled'. A rolling upgrade may be "
        "used for both changes. 'preparing' and 'enabled' read the offsets topic with "
        "isolation.level=read_committed. A standalone worker ignores it (docs/connect.md, Exactly-once source).",
    )
    .define(
        "session.timeout.ms",
        ConfigType.INT,
        10000,
        Range.at_least(1),
        Importance.HIGH,
        "Distributed mode: the group session timeout; a worker not heartbeating for this long leaves the group.",
    )
    .define(
        "heartbeat.interval.ms",
        ConfigType.INT,
        3000,
        Range.at_least(1),
        Importance.HIGH,
        "Distributed mode: the interval between the worker's group heartbeats.",
    )
    .define(
        "rebalance.timeout.ms",
        ConfigType.INT,
        60000,
        Range.at_least(1),
        Importance.HIGH,
        "Distributed mode: how long the group waits for every worker to rejoin during a rebalance.",
    )
    .define(
        "metrics.port",
        ConfigType.INT,
        0,
        Range.between(0, 65535),
        Importance.LOW,
        "Odradek: port of the worker's Prometheus /metrics endpoint (Kafka Connect's metric names, as the JMX "
        "exporter writes them); 0 turns it off.",
    )
    .define(
        "metrics.host",
        ConfigType.STRING,
        "127.0.0.1",
        None,
        Importance.LOW,
        "Odradek: address of the worker's Prometheus /metrics endpoint (0.0.0.0 in a pod).",
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

    @property
    def exactly_once_source_enabled(self) -> bool:
        """`exactly.once.source.support=enabled`: source tasks use transactional producers (distributed mode)."""
        return str(self.values["exactly.once.source.support"]).lower() == "enabled"

    @property
    def exactly_once_read_committed(self) -> bool:
        """`preparing` or `enabled`: the offsets topic is read with isolation.level=read_committed."""
        return str(self.values["exactly.once.source.support"]).lower() in ("preparing", "enabled")


# Keys of Kafka's distributed mode not served in this version, accepted without the unknown-key warning.
_DISTRIBUTED_KEYS = frozenset({"worker.sync.timeout.ms", "worker.unsync.backoff.ms"})


def _distributed_key(key: str) -> bool:
    return key in _DISTRIBUTED_KEYS
