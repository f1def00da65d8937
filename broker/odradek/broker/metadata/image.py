"""The cluster model in the ``MetadataStore``: key layout, JSON records and the immutable ``MetadataImage``.

Key layout (keys and values are UTF-8; JSON is compact with sorted keys)::

    /cluster/id                       the cluster id: 22 characters, base64url of a uuid4 without padding
                                      (plain text, not JSON), like Kafka's
    /brokers/<id>                     a live broker, attached to the broker's lease (decimal id):
                                      {"host": "h", "port": 9092, "rack": null | "r",
                                       "listeners": [{"name": "PLAINTEXT", "host": "h", "port": 9092,
                                                      "security_protocol": "PLAINTEXT"}, ...],
                                       "fenced": false, "clean_shutdown": true, "shutting_down": false}
                                      (the three flags: ``BrokerImage``; absent in older records)
    /topics/<name>                    {"topic_id": "<uuid string>", "partitions": 3,
                                       "configs": {"cleanup.policy": "compact", ...}}   (overrides only)
    /partitions/<topic>/<partition>   {"replicas": [1, 2], "leader": 1, "leader_epoch": 0,
                                       "isr": [1, 2], "partition_epoch": 0}             (decimal partition)
                                      during a reassignment also "adding_replicas": [3] and
                                      "removing_replicas": [1] (absent when empty: ``PartitionImage``)
    /configs/brokers/<id>             dynamic broker configs of one broker (decimal id), as set by AlterConfigs:
                                      {"configs": {"log.retention.ms": "3600000", ...}}  (string values)
    /configs/brokers/<default>        the cluster-wide dynamic defaults (the BROKER resource named ""), same JSON;
                                      ZooKeeper-era Kafka's name for it. No key: nothing set at that level.
    /scram/<mechanism>/<user>         a SCRAM credential (salted keys, never a password): ``security``
    /acls/<id>                        one ACL: ``security``
    /quotas/<type>=<name>[,...]       one client quota entity's values (user, client-id, defaults): ``quotas``
    /controller                       the controller's claim, attached to its lease: {"broker_id": 1}; every
                                      controller write compares this key's create_revision (``election``)
    /producer-ids/next-block          the first producer id not yet handed out: {"broker_id": 1,
                                      "next_producer_id": 2000}; each allocation CASes it (``Controller``)

Topic names never contain ``/`` (legal characters are ``[a-zA-Z0-9._-]``), so ``/partitions/<topic>/`` is
an exact prefix for one topic's partitions. A topic and all its partitions are created and deleted in one
transaction, so every revision of the store holds a consistent topic. Records that fail to parse are logged
and skipped by readers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from odradek.broker.metadata.quotas import QUOTAS_PREFIX, ClientQuotaRecord, QuotaEntityKey, quota_entity_of
from odradek.broker.metadata.security import (
    SECURITY_PREFIXES,
    AclRecord,
    ScramCredentialRecord,
    acl_id,
    scram_id,
)
from odradek.broker.metadata.store import KeyValue

__all__ = [
    "BROKERS_PREFIX",
    "BROKER_CONFIGS_PREFIX",
    "CLUSTER_ID_KEY",
    "CONTROLLER_KEY",
    "PARTITIONS_PREFIX",
    "PRODUCER_IDS_KEY",
    "TOPICS_PREFIX",
    "BrokerConfigRecord",
    "BrokerImage",
    "Endpoint",
    "ImageBuilder",
    "MetadataDelta",
    "MetadataImage",
    "PartitionImage",
    "TopicImage",
    "TopicRecord",
    "broker_config_key",
    "broker_config_resource",
    "broker_key",
    "partition_key",
    "partitions_prefix",
    "topic_key",
]

log = logging.getLogger(__name__)

CLUSTER_ID_KEY = b"/cluster/id"
CONTROLLER_KEY = b"/controller"
BROKERS_PREFIX = b"/brokers/"
TOPICS_PREFIX = b"/topics/"
PARTITIONS_PREFIX = b"/partitions/"
BROKER_CONFIGS_PREFIX = b"/configs/brokers/"
# The next producer id block to hand out (Kafka's ProducerIdsRecord): JSON
# {"broker_id": <last allocator>, "next_producer_id": <first id of the next block>}; not part of the image.
PRODUCER_IDS_KEY = b"/producer-ids/next-block"
DEFAULT_RESOURCE = "<default>"
MODEL_PREFIXES = (
    CLUSTER_ID_KEY,
    BROKERS_PREFIX,
    TOPICS_PREFIX,
    PARTITIONS_PREFIX,
    BROKER_CONFIGS_PREFIX,
    *SECURITY_PREFIXES,
    QUOTAS_PREFIX,
)


def broker_key(broker_id: int) -> bytes:
    return BROKERS_PREFIX + str(broker_id).encode()


def broker_config_key(resource_name: str) -> bytes:
    """The key of a BROKER config resource: a broker id, or "" for the cluster-wide default."""
    return BROKER_CONFIGS_PREFIX + (resource_name or DEFAULT_RESOURCE).encode()


def topic_key(name: str) -> bytes:
    return TOPICS_PREFIX + name.encode()


def partitions_prefix(topic: str) -> bytes:
    return PARTITIONS_PREFIX + topic.encode() + b"/"


def partition_key(topic: str, partition: int) -> bytes:
    return partitions_prefix(topic) + str(partition).encode()


def _dumps(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


def _ints(values: Any) -> tuple[int, ...]:
    if not isinstance(values, list):
        raise ValueError(f"expected a list, got {values!r}")
    return tuple(_int(v) for v in values)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected a boolean, got {value!r}")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One listener of a broker, as advertised to clients."""

    name: str
    host: str
    port: int
    security_protocol: str = "PLAINTEXT"


@dataclass(frozen=True, slots=True)
class BrokerImage:
    """A registered broker (``/brokers/<id>``).

    The lifecycle flags (Kafka's BrokerRegistration): ``fenced`` is written true by a broker when it registers and
    set false by the active controller once it has acted on the registration (``cluster_control``); a fenced broker
    never leads. ``clean_shutdown`` says whether the broker's log dirs held the clean-shutdown marker when it
    started (false: its unflushed tail may be lost, so the controller removes it from ISRs that have other members,
    KIP-966's idea). ``shutting_down`` is set by the broker itself at a controlled shutdown: it then leads nothing
    and leaves every ISR. Records written before these fields existed read as unfenced, clean and running.

    ``epoch`` (the key's create_revision: Kafka's broker epoch), ``mod_revision`` and ``lease`` come from the store
    key, not from the JSON, and take no part in comparisons.
    """

    broker_id: int
    host: str
    port: int
    rack: str | None = None
    listeners: tuple[Endpoint, ...] = ()
    fenced: bool = False
    clean_shutdown: bool = True
    shutting_down: bool = False
    epoch: int = field(default=0, compare=False)
    mod_revision: int = field(default=0, compare=False)
    lease: int = field(default=0, compare=False)

    def to_json(self) -> bytes:
        listeners = [
            {"name": e.name, "host": e.host, "port": e.port, "security_protocol": e.security_protocol}
            for e in self.listeners
        ]
        doc: dict[str, Any] = {"host": self.host, "port": self.port, "rack": self.rack, "listeners": listeners}
        doc.update(fenced=self.fenced, clean_shutdown=self.clean_shutdown, shutting_down=self.shutting_down)
        return _dumps(doc)

    @classmethod
    def from_json(cls, broker_id: int, data: bytes, kv: KeyValue | None = None) -> BrokerImage:
        """``kv``: the store key the JSON came from (for ``epoch``, ``mod_revision`` and ``lease``)."""
        doc = json.loads(data)
        rack = doc.get("rack")
        listeners = tuple(
            Endpoint(_str(e["name"]), _str(e["host"]), _int(e["port"]), _str(e["security_protocol"]))
            for e in doc.get("listeners", [])
        )
        return cls(
            broker_id,
            _str(doc["host"]),
            _int(doc["port"]),
            None if rack is None else _str(rack),
            listeners,
            _bool(doc.get("fenced", False)),
            _bool(doc.get("clean_shutdown", True)),
            _bool(doc.get("shutting_down", False)),
            kv.create_revision if kv else 0,
            kv.mod_revision if kv else 0,
            kv.lease if kv else 0,
        )

    @property
    def active(self) -> bool:
        """May lead partitions and join ISRs: unfenced and not shutting down (Kafka's ``isActive``)."""
        return not self.fenced and not self.shutting_down


@dataclass(frozen=True, slots=True)
class TopicRecord:
    """The value of ``/topics/<name>``."""

    topic_id: str
    partitions: int
    configs: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return _dumps({"topic_id": self.topic_id, "partitions": self.partitions, "configs": dict(self.configs)})

    @classmethod
    def from_json(cls, data: bytes) -> TopicRecord:
        doc = json.loads(data)
        configs = doc.get("configs", {})
        if not isinstance(configs, dict):
            raise ValueError("configs must be an object")
        return cls(
            _str(doc["topic_id"]),
            _int(doc["partitions"]),
            {_str(k): _str(v) for k, v in configs.items()},
        )


@dataclass(frozen=True, slots=True)
class BrokerConfigRecord:
    """The value of ``/configs/brokers/<id|<default>>``."""

    configs: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return _dumps({"configs": dict(self.configs)})

    @classmethod
    def from_json(cls, data: bytes) -> BrokerConfigRecord:
        configs = json.loads(data).get("configs", {})
        if not isinstance(configs, dict):
            raise ValueError("configs must be an object")
        return cls({_str(k): _str(v) for k, v in configs.items()})


@dataclass(frozen=True, slots=True)
class PartitionImage:
    """The value of ``/partitions/<topic>/<partition>``; ``mod_revision`` is that key's, for CAS updates.

    A partition being reassigned (Kafka's PartitionRegistration) has ``replicas`` = the target replicas followed
    by the ones being removed, ``adding_replicas`` = target minus original and ``removing_replicas`` = original
    minus target (both sorted, ``partition_reassignment``); both are empty otherwise and then left out of the
    JSON, so records written before reassignment existed read the same."""

    topic: str
    partition: int
    replicas: tuple[int, ...]
    leader: int
    leader_epoch: int
    isr: tuple[int, ...]
    partition_epoch: int = 0
    mod_revision: int = 0
    adding_replicas: tuple[int, ...] = ()
    removing_replicas: tuple[int, ...] = ()

    @property
    def is_reassigning(self) -> bool:
        return bool(self.adding_replicas or self.removing_replicas)

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {
            "replicas": list(self.replicas),
            "leader": self.leader,
            "leader_epoch": self.leader_epoch,
            "isr": list(self.isr),
            "partition_epoch": self.partition_epoch,
        }
        if self.adding_replicas:
            doc["adding_replicas"] = list(self.adding_replicas)
        if self.removing_replicas:
            doc["removing_replicas"] = list(self.removing_replicas)
        return _dumps(doc)

    @classmethod
    def from_json(cls, topic: str, partition: int, data: bytes, mod_revision: int = 0) -> PartitionImage:
        doc = json.loads(data)
        return cls(
            topic,
            partition,
            _ints(doc["replicas"]),
            _int(doc["leader"]),
            _int(doc["leader_epoch"]),
            _ints(doc["isr"]),
            _int(doc.get("partition_epoch", 0)),
            mod_revision,
            _ints(doc.get("adding_replicas", [])),
            _ints(doc.get("removing_replicas", [])),
        )


@dataclass(frozen=True, slots=True)
class TopicImage:
    """A topic with its partitions. ``mod_revision`` is that of ``/topics/<name>`` (for CAS updates)."""

    name: str
    topic_id: str
    num_partitions: int
    configs: Mapping[str, str]
    partitions: Mapping[int, PartitionImage]
    mod_revision: int = 0

    @property
    def record(self) -> TopicRecord:
        return TopicRecord(self.topic_id, self.num_partitions, self.configs)


@dataclass(frozen=True, slots=True)
class MetadataImage:
    """The whole cluster model at store revision ``revision`` (immutable; replaced, never changed).

    ``topic_by_id`` is a dict lookup: the index is built once, when the image is made (Fetch v13+ and Metadata
    look up every requested topic by id)."""

    revision: int = 0
    cluster_id: str | None = None
    brokers: Mapping[int, BrokerImage] = field(default_factory=dict)
    topics: Mapping[str, TopicImage] = field(default_factory=dict)
    broker_configs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # resource name ("" default)
    scram_credentials: Mapping[tuple[str, str], ScramCredentialRecord] = field(default_factory=dict, repr=False)
    acls: Mapping[str, AclRecord] = field(default_factory=dict)  # by ACL id
    client_quotas: Mapping[QuotaEntityKey, ClientQuotaRecord] = field(default_factory=dict)
    _topics_by_id: Mapping[str, TopicImage] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Frozen: the one assignment, at construction (dataclasses.replace constructs a new image too).
        object.__setattr__(self, "_topics_by_id", {t.topic_id: t for t in self.topics.values()})

    def topic_by_id(self, topic_id: str) -> TopicImage | None:
        return self._topics_by_id.get(topic_id)

    def partition(self, topic: str, partition: int) -> PartitionImage | None:
        image = self.topics.get(topic)
        return image.partitions.get(partition) if image else None


@dataclass(frozen=True, slots=True)
class MetadataDelta:
    """What changed between two images: topics and brokers whose keys were written or deleted.

    ``created_topics``/``deleted_topics`` treat a topic deleted and re-created under the same name (a new
    topic id) as both, so a ReplicaManager removes the old logs before creating the new ones.
    ``changed_broker_configs`` names the BROKER config resources written ("" for the cluster-wide default).
    """

    previous: MetadataImage
    image: MetadataImage
    changed_topics: frozenset[str]
    changed_brokers: frozenset[int]
    changed_broker_configs: frozenset[str] = frozenset()
    changed_acls: frozenset[str] = frozenset()  # ACL ids written or deleted

    @property
    def client_quotas_changed(self) -> bool:
        return self.previous.client_quotas is not self.image.client_quotas and (
            self.previous.client_quotas != self.image.client_quotas
        )

    @property
    def deleted_topics(self) -> frozenset[str]:
        return frozenset(t for t in self.changed_topics if t in self.previous.topics and not self._same_id(t))

    @property
    def created_topics(self) -> frozenset[str]:
        return frozenset(t for t in self.changed_topics if t in self.image.topics and not self._same_id(t))

    def _same_id(self, topic: str) -> bool:
        old, new = self.previous.topics.get(topic), self.image.topics.get(topic)
        return old is not None and new is not None and old.topic_id == new.topic_id


class ImageBuilder:
    """Mutable records decoded from store keys, turned into successive immutable ``MetadataImage`` values."""

    def __init__(self) -> None:
        self.cluster_id: str | None = None
        self.brokers: dict[int, BrokerImage] = {}
        self.topics: dict[str, tuple[TopicRecord, int]] = {}
        self.partitions: dict[str, dict[int, PartitionImage]] = {}
        self.broker_configs: dict[str, dict[str, str]] = {}
        self.scram_credentials: dict[tuple[str, str], ScramCredentialRecord] = {}
        self.acls: dict[str, AclRecord] = {}
        self.client_quotas: dict[QuotaEntityKey, ClientQuotaRecord] = {}
        self._client_quotas_view: dict[QuotaEntityKey, ClientQuotaRecord] = {}

    def apply(self, key: bytes, kv: KeyValue | None) -> tuple[str | None, int | None]:
        """Records a put (``kv``) or delete (``None``) of ``key``; returns the (topic, broker) it touched.

        A broker config resource touched is neither: ``broker_config_resource(key)`` names it."""
        try:
            return self._apply(key, kv)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            log.warning("ignoring malformed metadata record %r: %s", key, e)
            return None, None

    def _apply(self, key: bytes, kv: KeyValue | None) -> tuple[str | None, int | None]:
        if key == CLUSTER_ID_KEY:
            self.cluster_id = kv.value.decode() if kv else None
        elif key.startswith(BROKERS_PREFIX):
            broker_id = int(key[len(BROKERS_PREFIX) :])
            if kv is None:
                self.brokers.pop(broker_id, None)
            else:
                self.brokers[broker_id] = BrokerImage.from_json(broker_id, kv.value, kv)
            return None, broker_id
        elif key.startswith(TOPICS_PREFIX):
            name = key[len(TOPICS_PREFIX) :].decode()
            if kv is None:
                self.topics.pop(name, None)
            else:
                self.topics[name] = (TopicRecord.from_json(kv.value), kv.mod_revision)
            return name, None
        elif key.startswith(PARTITIONS_PREFIX):
            topic, _, number = key[len(PARTITIONS_PREFIX) :].decode().rpartition("/")
            partition = int(number)
            parts = self.partitions.setdefault(topic, {})
            if kv is None:
                parts.pop(partition, None)
                if not parts:
                    del self.partitions[topic]
            else:
                parts[partition] = PartitionImage.from_json(topic, partition, kv.value, kv.mod_revision)
            return topic, None
        elif (resource := broker_config_resource(key)) is not None:
            if kv is None:
                self.broker_configs.pop(resource, None)
            else:
                self.broker_configs[resource] = dict(BrokerConfigRecord.from_json(kv.value).configs)
        elif (credential := scram_id(key)) is not None:
            if kv is None:
                self.scram_credentials.pop(credential, None)
            else:
                self.scram_credentials[credential] = ScramCredentialRecord.from_json(kv.value)
        elif (acl := acl_id(key)) is not None:
            if kv is None:
                self.acls.pop(acl, None)
            else:
                self.acls[acl] = AclRecord.from_json(kv.value)
        elif (quota_entity := quota_entity_of(key)) is not None:
            if kv is None:
                self.client_quotas.pop(quota_entity, None)
            else:
                self.client_quotas[quota_entity] = ClientQuotaRecord.from_json(kv.value)
            self._client_quotas_view = dict(self.client_quotas)  # a new object: MetadataDelta compares identity
        return None, None

    def topic_image(self, name: str) -> TopicImage | None:
        entry = self.topics.get(name)
        if entry is None:
            return None
        record, mod_revision = entry
        parts = dict(sorted(self.partitions.get(name, {}).items()))
        return TopicImage(name, record.topic_id, record.partitions, dict(record.configs), parts, mod_revision)

    def build(self, previous: MetadataImage, revision: int, changed_topics: Iterable[str]) -> MetadataImage:
        """A new image: unchanged topics are shared with ``previous``, changed ones rebuilt."""
        topics = dict(previous.topics)
        for name in changed_topics:
            image = self.topic_image(name)
            if image is None:
                topics.pop(name, None)
            else:
                topics[name] = image
        configs = {name: dict(values) for name, values in sorted(self.broker_configs.items())}
        return MetadataImage(
            revision,
            self.cluster_id,
            dict(sorted(self.brokers.items())),
            topics,
            configs,
            dict(self.scram_credentials),
            dict(self.acls),
            self._client_quotas_view,
        )

    @classmethod
    def from_kvs(cls, kvs: Iterable[KeyValue], revision: int) -> tuple[ImageBuilder, MetadataImage]:
        builder = cls()
        for kv in kvs:
            builder.apply(kv.key, kv)
        image = builder.build(MetadataImage(), revision, list(builder.topics))
        return builder, image


def broker_config_resource(key: bytes) -> str | None:
    """The BROKER config resource name of a ``/configs/brokers/`` key ("" for the default), else None."""
    if not key.startswith(BROKER_CONFIGS_PREFIX):
        return None
    name = key[len(BROKER_CONFIGS_PREFIX) :].decode()
    return "" if name == DEFAULT_RESOURCE else name
