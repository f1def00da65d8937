"""The only module that talks to brokers: confluent-kafka's AdminClient behind `ClusterAdmin`, the protocol the
reconcilers use (tests pass a fake).

Values are the operator's own (`TopicState`, `AclRule`), in Strimzi's vocabulary (`topic`, `prefix`, `Read`), so
the reconcilers never see confluent-kafka's types. Kafka errors become `AdminError(code, message)` where `code` is
Kafka's error name (`TOPIC_DELETION_DISABLED`, `POLICY_VIOLATION`, ...), which status messages quote.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import KafkaException, TopicCollection
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from odradek.kafka_python import admin_call, send_to_controller
from odradek.operator.batching import GroupCall
from odradek.operator.roller import ClusterView, PartitionReplicas

TIMEOUT_S = 15.0
SCRAM_ITERATIONS = 4096
CLUSTER_RESOURCE_NAME = "kafka-cluster"


@dataclass(frozen=True, slots=True)
class TopicState:
    """A topic as Kafka has it: its id, the configs set on the topic itself (source DYNAMIC_TOPIC_CONFIG; defaults
    are not listed) and each partition's replicas (`assignment[p]`, as Metadata answers: during a reassignment, the
    target and the replicas being removed); the partition count and replication factor follow from them."""

    name: str
    topic_id: str | None
    config: Mapping[str, str]
    assignment: tuple[tuple[int, ...], ...]

    @property
    def partitions(self) -> int:
        return len(self.assignment)

    @property
    def replicas(self) -> int:
        """The replication factor as Kafka's TopicCommand shows it: partition 0's replica count."""
        return len(self.assignment[0]) if self.assignment else 0


@dataclass(frozen=True, slots=True)
class NewTopicArgs:
    """What a CreateTopics entry asks besides the name (-1: the broker's default), hashable for `GroupCall`."""

    partitions: int
    replicas: int
    config: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, order=True)
class AclRule:
    """One ACL of a user in Strimzi's words: resource_type topic | group | cluster | transactionalId, pattern
    literal | prefix, operation Read | Write | ... | All, permission allow | deny."""

    resource_type: str
    name: str
    pattern: str
    operation: str
    host: str
    permission: str


@dataclass(frozen=True, slots=True)
class BrokerConfigEntry:
    """One key of a BROKER resource as DescribeConfigs answers it: the value in force (None when sensitive or unset)
    and its source, in Kafka's names: DYNAMIC_BROKER_CONFIG, DYNAMIC_DEFAULT_BROKER_CONFIG, STATIC_BROKER_CONFIG,
    DEFAULT_CONFIG. No synonyms: confluent-kafka keys them by name, so one key set in two layers (a dynamic default
    over server.properties) shows once, and nothing here needs them."""

    name: str
    value: str | None
    source: str


class AdminError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ClusterAdmin(Protocol):
    def describe_topic(self, name: str) -> TopicState | None: ...
    def describe_topic_states(self, names: Sequence[str]) -> dict[str, TopicState | AdminError | None]: ...
    def topic_id(self, name: str) -> str | None: ...
    def create_topic(
        self, name: str, partitions: int | None, replicas: int | None, config: Mapping[str, str]
    ) -> None: ...
    def create_partitions(self, name: str, total: int) -> None: ...
    def alter_topic_config(self, name: str, set_: Mapping[str, str], delete: Iterable[str]) -> None: ...
    def delete_topic(self, name: str) -> None: ...
    def upsert_scram(self, user: str, password: str) -> None: ...
    def delete_scram(self, user: str) -> None: ...
    def describe_acls(self, principal: str) -> set[AclRule]: ...
    def create_acls(self, principal: str, rules: Iterable[AclRule]) -> None: ...
    def delete_acls(self, principal: str, rules: Iterable[AclRule]) -> None: ...
    def cluster_view(self) -> ClusterView: ...
    def describe_user_quotas(self, user: str) -> dict[str, float]: ...
    def alter_user_quotas(self, user: str, set_: Mapping[str, float], remove: Iterable[str]) -> None: ...
    def broker_ids(self) -> tuple[int, ...]: ...
    def list_reassignments(self, topic: str | None = None) -> dict[tuple[str, int], tuple[int, ...]]: ...
    def alter_reassignments(self, targets: Mapping[tuple[str, int], Sequence[int]]) -> None: ...
    def describe_broker_configs(self, broker: str) -> dict[str, BrokerConfigEntry]: ...
    def alter_broker_configs(self, broker: str, set_: Mapping[str, str], delete: Iterable[str]) -> None: ...


_RESOURCES = {
    "topic": ResourceType.TOPIC,
    "group": ResourceType.GROUP,
    "cluster": ResourceType.BROKER,  # confluent-kafka's name for Kafka's CLUSTER resource
    "transactionalId": ResourceType.TRANSACTIONAL_ID,
}
_PATTERNS = {"literal": ResourcePatternType.LITERAL, "prefix": ResourcePatternType.PREFIXED}
_OPERATIONS = {
    "Read": AclOperation.READ,
    "Write": AclOperation.WRITE,
    "Create": AclOperation.CREATE,
    "Delete": AclOperation.DELETE,
    "Alter": AclOperation.ALTER,
    "Describe": AclOperation.DESCRIBE,
    "ClusterAction": AclOperation.CLUSTER_ACTION,
    "DescribeConfigs": AclOperation.DESCRIBE_CONFIGS,
    "AlterConfigs": AclOperation.ALTER_CONFIGS,
    "IdempotentWrite": AclOperation.IDEMPOTENT_WRITE,
    "All": AclOperation.ALL,
}
_PERMISSIONS = {"allow": AclPermissionType.ALLOW, "deny": AclPermissionType.DENY}


def _reverse(table: Mapping[str, Any]) -> dict[Any, str]:
    return {value: key for key, value in table.items()}


def _error(exc: BaseException) -> AdminError:
    if isinstance(exc, KafkaException) and exc.args:
        err = exc.args[0]
        return AdminError(str(err.name()), str(err.str()))
    return AdminError("UNKNOWN", str(exc))


def _topic_id(description: Any) -> str | None:
    return str(description.topic_id) if description.topic_id is not None else None


def _state(name: str, description: Any, config: Mapping[str, str]) -> TopicState:
    """A TopicState from a DescribeTopics TopicDescription and the topic's own configs."""
    partitions = sorted(description.partitions, key=lambda p: p.id)
    assignment = tuple(tuple(int(node.id) for node in p.replicas) for p in partitions)  # DescribeTopics: Nodes
    return TopicState(name, _topic_id(description), config, assignment)


def _wait(future: Any) -> Any:
    try:
        return future.result(timeout=TIMEOUT_S)
    except Exception as exc:
        raise _error(exc) from exc


def _source_name(source: Any) -> str:
    """confluent-kafka's ConfigSource (an int in ConfigEntry, the enum elsewhere) as Kafka's name."""
    try:
        return str(ConfigSource(int(getattr(source, "value", source))).name)
    except ValueError:
        return "UNKNOWN"


def admin_config(bootstrap: str, credentials: tuple[str, str] | None) -> dict[str, Any]:
    """AdminClient settings for a cluster's replication listener: SASL_PLAINTEXT SCRAM-SHA-512 with the operator's
    credentials on a secured cluster, PLAINTEXT otherwise."""
    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "client.id": "odradek-operator"}
    if credentials:
        user, password = credentials
        config.update(
            {
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": user,
                "sasl.password": password,
            }
        )
    return config


class KafkaAdmin:
    """`ClusterAdmin` over confluent-kafka's AdminClient; every call waits for its answer (TIMEOUT_S). Client quotas
    go through kafka-python (`_quota_request`): confluent-kafka has no DescribeClientQuotas/AlterClientQuotas."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self._config = dict(config)
        self._client = AdminClient(dict(config))
        # The per-topic calls every KafkaTopic reconcile makes, each a group commit (batching.GroupCall): the
        # reconciles in flight together share one DescribeTopics, one DescribeConfigs and one CreateTopics request.
        # A caller may wait for the request in flight before its own: twice the request timeout, and a little.
        wait_s = 2 * TIMEOUT_S + 5
        self.describe_topics: GroupCall[str, None, Any] = GroupCall("describe-topics", self._describe_many, wait_s)
        self.describe_configs: GroupCall[str, None, dict[str, str]] = GroupCall(
            "describe-topic-configs", self._configs_many, wait_s
        )
        self.create_topics: GroupCall[str, NewTopicArgs, None] = GroupCall("create-topics", self._create_many, wait_s)
        self.resync_requests = 0  # describe_topic_states calls (each one DescribeTopics + one DescribeConfigs)

    def describe_topic(self, name: str) -> TopicState | None:
        description = self._describe(name)
        if description is None:
            return None
        return _state(name, description, self._topic_config(name))

    def describe_topic_states(self, names: Sequence[str]) -> dict[str, TopicState | AdminError | None]:
        """Every named topic as `describe_topic` answers it (None: unknown, an AdminError: Kafka's error for that
        topic alone), from ONE DescribeTopics and ONE DescribeConfigs request for all of them: a cluster's periodic
        resync (topic.resync_topics). Sent directly, not through the group calls: one caller already has them all."""
        self.resync_requests += 1
        described = self._describe_many([(name, None) for name in names])
        known = [(name, None) for name in names if described.get(name) is not None]
        known = [(name, arg) for name, arg in known if not isinstance(described[name], AdminError)]
        configs = self._configs_many(known) if known else {}
        out: dict[str, TopicState | AdminError | None] = {}
        for name in names:
            description, config = described.get(name), configs.get(name)
            if description is None or isinstance(description, AdminError):
                out[name] = description
            elif config is None:
                out[name] = AdminError("UNKNOWN", f"no DescribeConfigs answer for topic {name}")
            elif isinstance(config, BaseException):
                out[name] = config if isinstance(config, AdminError) else _error(config)
            else:
                out[name] = _state(name, description, config)
        return out

    def topic_id(self, name: str) -> str | None:
        """The topic's id from DescribeTopics alone (no DescribeConfigs): what a reconcile that has just created
        the topic still needs for its status. None when the topic is unknown or has no id."""
        description = self._describe(name)
        return None if description is None else _topic_id(description)

    def _describe(self, name: str) -> Any:
        """DescribeTopics of one topic: its TopicDescription, None when Kafka does not know it."""
        return self.describe_topics(name, None)

    def _describe_many(self, items: Sequence[tuple[str, None]]) -> dict[str, Any]:
        # DescribeTopics, not list_topics(topic=...): the AdminClient's metadata requests for a named topic ask for
        # auto-creation (librdkafka treats the admin handle as a producer), which would bring a deleted topic back
        names = [name for name, _ in items]
        futures = self._client.describe_topics(TopicCollection(names), request_timeout=TIMEOUT_S)
        outcomes: dict[str, Any] = {}
        for name in names:
            try:
                outcomes[name] = futures[name].result(timeout=TIMEOUT_S)
            except KafkaException as exc:
                error = _error(exc)
                unknown = error.code in ("UNKNOWN_TOPIC_OR_PART", "UNKNOWN_TOPIC_OR_PARTITION")
                outcomes[name] = None if unknown else error
            except Exception as exc:
                outcomes[name] = _error(exc)
        return outcomes

    def _topic_config(self, name: str) -> dict[str, str]:
        return self.describe_configs(name, None)

    def _configs_many(self, items: Sequence[tuple[str, None]]) -> dict[str, dict[str, str] | BaseException]:
        resources = {name: ConfigResource(ResourceType.TOPIC, name) for name, _ in items}
        futures = self._client.describe_configs(list(resources.values()), request_timeout=TIMEOUT_S)
        outcomes: dict[str, dict[str, str] | BaseException] = {}
        for name, resource in resources.items():
            try:
                entries = _wait(futures[resource])
            except AdminError as exc:
                outcomes[name] = exc
                continue
            outcomes[name] = {
                key: str(entry.value)
                for key, entry in entries.items()
                if entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value and entry.value is not None
            }
        return outcomes

    def create_topic(self, name: str, partitions: int | None, replicas: int | None, config: Mapping[str, str]) -> None:
        self.create_topics(name, NewTopicArgs(partitions or -1, replicas or -1, tuple(sorted(config.items()))))

    def _create_many(self, items: Sequence[tuple[str, NewTopicArgs]]) -> dict[str, BaseException | None]:
        topics = [NewTopic(name, a.partitions, a.replicas, config=dict(a.config)) for name, a in items]
        futures = self._client.create_topics(topics, request_timeout=TIMEOUT_S)
        outcomes: dict[str, BaseException | None] = {}
        for name, _ in items:
            try:
                outcomes[name] = _wait(futures[name])
            except AdminError as exc:
                outcomes[name] = exc
        return outcomes

    def create_partitions(self, name: str, total: int) -> None:
        _wait(self._client.create_partitions([NewPartitions(name, total)], request_timeout=TIMEOUT_S)[name])

    def alter_topic_config(self, name: str, set_: Mapping[str, str], delete: Iterable[str]) -> None:
        entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in sorted(set_.items())]
        entries += [ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE) for k in sorted(delete)]
        if not entries:
            return
        resource = ConfigResource(ResourceType.TOPIC, name, incremental_configs=entries)
        _wait(self._client.incremental_alter_configs([resource], request_timeout=TIMEOUT_S)[resource])

    def delete_topic(self, name: str) -> None:
        _wait(self._client.delete_topics([name], request_timeout=TIMEOUT_S)[name])

    def upsert_scram(self, user: str, password: str) -> None:
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
        alteration = UserScramCredentialUpsertion(user, info, password.encode())
        _wait(self._client.alter_user_scram_credentials([alteration], request_timeout=TIMEOUT_S)[user])

    def delete_scram(self, user: str) -> None:
        deletion = UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512)
        try:
            _wait(self._client.alter_user_scram_credentials([deletion], request_timeout=TIMEOUT_S)[user])
        except AdminError as exc:
            if exc.code != "RESOURCE_NOT_FOUND":  # already gone: deletion is idempotent
                raise

    def describe_acls(self, principal: str) -> set[AclRule]:
        # None matches any name and any host (Kafka's AclBindingFilter); confluent-kafka's stubs say str
        anything: Any = None
        matching = AclBindingFilter(
            ResourceType.ANY,
            anything,
            ResourcePatternType.ANY,
            principal,
            anything,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
        bindings = _wait(self._client.describe_acls(matching, request_timeout=TIMEOUT_S))
        resources, patterns = _reverse(_RESOURCES), _reverse(_PATTERNS)
        operations, permissions = _reverse(_OPERATIONS), _reverse(_PERMISSIONS)
        return {
            AclRule(
                resources.get(b.restype, str(b.restype)),
                "" if b.restype == ResourceType.BROKER else b.name,
                patterns.get(b.resource_pattern_type, str(b.resource_pattern_type)),
                operations.get(b.operation, str(b.operation)),
                b.host,
                permissions.get(b.permission_type, str(b.permission_type)),
            )
            for b in bindings
        }

    def _fields(self, principal: str, rule: AclRule) -> tuple[Any, ...]:
        name = CLUSTER_RESOURCE_NAME if rule.resource_type == "cluster" else rule.name
        return (
            _RESOURCES[rule.resource_type],
            name,
            _PATTERNS[rule.pattern],
            principal,
            rule.host,
            _OPERATIONS[rule.operation],
            _PERMISSIONS[rule.permission],
        )

    def create_acls(self, principal: str, rules: Iterable[AclRule]) -> None:
        bindings = [AclBinding(*self._fields(principal, rule)) for rule in sorted(rules)]
        if bindings:
            for future in self._client.create_acls(bindings, request_timeout=TIMEOUT_S).values():
                _wait(future)

    def delete_acls(self, principal: str, rules: Iterable[AclRule]) -> None:
        # an exact filter per rule, so that only this user's rules go (never a wildcard)
        filters = [AclBindingFilter(*self._fields(principal, rule)) for rule in sorted(rules)]
        if filters:
            for future in self._client.delete_acls(filters, request_timeout=TIMEOUT_S).values():
                _wait(future)

    def cluster_view(self) -> ClusterView:
        """Every partition's replicas and ISR (Metadata, internal topics included), each topic's effective
        min.insync.replicas (one DescribeConfigs for all topics) and the active controller, for the roller."""
        try:
            metadata = self._client.list_topics(timeout=TIMEOUT_S)
        except KafkaException as exc:
            raise _error(exc) from exc
        partitions = tuple(
            PartitionReplicas(name, p.id, tuple(p.replicas), tuple(p.isrs))
            for name, topic in sorted(metadata.topics.items())
            for p in sorted(topic.partitions.values(), key=lambda p: p.id)
        )
        resources = [ConfigResource(ResourceType.TOPIC, name) for name in sorted(metadata.topics)]
        min_isr: dict[str, int] = {}
        if resources:
            futures = self._client.describe_configs(resources, request_timeout=TIMEOUT_S)
            for resource, future in futures.items():
                entry = _wait(future).get("min.insync.replicas")
                if entry is not None and entry.value is not None:
                    min_isr[resource.name] = int(entry.value)
        return ClusterView(partitions, min_isr, controller_id=int(metadata.controller_id))

    def describe_broker_configs(self, broker: str) -> dict[str, BrokerConfigEntry]:
        """DescribeConfigs of the BROKER resource `broker`: a broker id (confluent-kafka, which sends it to that
        broker), or "" for the cluster-wide default, which lists only the keys set there (kafka-python: librdkafka
        refuses an empty resource name)."""
        if broker == "":
            return self._describe_cluster_default()
        resource = ConfigResource(ResourceType.BROKER, broker)
        entries = _wait(self._client.describe_configs([resource], request_timeout=TIMEOUT_S)[resource])
        return {
            name: BrokerConfigEntry(name, None if entry.value is None else str(entry.value), _source_name(entry.source))
            for name, entry in entries.items()
        }

    def alter_broker_configs(self, broker: str, set_: Mapping[str, str], delete: Iterable[str]) -> None:
        """IncrementalAlterConfigs of the BROKER resource `broker` ("": the cluster-wide default, through
        kafka-python as `describe_broker_configs`): SET and DELETE ops; nothing is sent when both are empty."""
        ops: list[tuple[str, str | None, AlterConfigOpType]] = [
            (k, v, AlterConfigOpType.SET) for k, v in sorted(set_.items())
        ]
        ops += [(k, None, AlterConfigOpType.DELETE) for k in sorted(delete)]
        if not ops:
            return
        if broker == "":
            self._alter_cluster_default(ops)
            return
        entries = [ConfigEntry(k, v, incremental_operation=op) for k, v, op in ops]
        resource = ConfigResource(ResourceType.BROKER, broker, incremental_configs=entries)
        _wait(self._client.incremental_alter_configs([resource], request_timeout=TIMEOUT_S)[resource])

    def _describe_cluster_default(self) -> dict[str, BrokerConfigEntry]:
        from kafka.protocol.admin import DescribeConfigsRequest as Request

        wanted = Request.DescribeConfigsResource(
            resource_type=int(ResourceType.BROKER.value), resource_name="", configuration_keys=None
        )
        response = self._quota_request(Request(resources=[wanted], include_synonyms=False, include_documentation=False))
        out: dict[str, BrokerConfigEntry] = {}
        for result in response.results:
            if result.error_code:
                code = _KAFKA_PYTHON_ERRORS.get(result.error_code, str(result.error_code))
                raise AdminError(code, str(result.error_message))
            for config in result.configs:
                source = _source_name(config.config_source)
                out[str(config.name)] = BrokerConfigEntry(str(config.name), config.value, source)
        return out

    def _alter_cluster_default(self, ops: Sequence[tuple[str, str | None, AlterConfigOpType]]) -> None:
        from kafka.protocol.admin import IncrementalAlterConfigsRequest as Request

        configs = [
            Request.AlterConfigsResource.AlterableConfig(name=k, config_operation=int(op.value), value=v)
            for k, v, op in ops
        ]
        resource = Request.AlterConfigsResource(
            resource_type=int(ResourceType.BROKER.value), resource_name="", configs=configs
        )
        response = self._quota_request(Request(resources=[resource], validate_only=False))
        for result in response.responses:
            if result.error_code:
                code = _KAFKA_PYTHON_ERRORS.get(result.error_code, str(result.error_code))
                raise AdminError(code, str(result.error_message))

    def broker_ids(self) -> tuple[int, ...]:
        """The live (registered) brokers' ids, sorted (DescribeCluster)."""
        described = _wait(self._client.describe_cluster(request_timeout=TIMEOUT_S))
        return tuple(sorted(int(node.id) for node in described.nodes))

    # -- partition reassignments (kafka-python: confluent-kafka has neither API) ----------------------------------

    def list_reassignments(self, topic: str | None = None) -> dict[tuple[str, int], tuple[int, ...]]:
        """ListPartitionReassignments of every partition: (topic, partition) -> the replicas Kafka lists for it
        (target and removing); only `topic`'s partitions when given."""
        listed = self._kafka_python(lambda admin: admin.list_partition_reassignments(None))
        return {
            (tp.topic, tp.partition): tuple(r["replicas"])
            for tp, r in listed.items()
            if topic is None or tp.topic == topic
        }

    def alter_reassignments(self, targets: Mapping[tuple[str, int], Sequence[int]]) -> None:
        """AlterPartitionReassignments; AdminError naming the partitions Kafka refused (the others are started)."""
        from kafka import TopicPartition as KafkaTopicPartition

        if not targets:
            return
        wanted = {KafkaTopicPartition(t, p): list(replicas) for (t, p), replicas in sorted(targets.items())}
        results = self._kafka_python(lambda admin: admin.alter_partition_reassignments(wanted))
        failed = {f"{tp.topic}-{tp.partition}": error for tp, error in results.items() if error is not None}
        if failed:
            first = next(iter(failed.values()))
            code = type(first).__name__ if isinstance(first, BaseException) else str(first)
            raise AdminError(code, "reassignment refused for " + ", ".join(f"{k}: {v}" for k, v in failed.items()))

    def _kafka_python(self, call: Callable[[Any], Any]) -> Any:
        """`call(admin)` on a kafka-python KafkaAdminClient with this admin's connection settings
        (`odradek.kafka_python.admin_call`: retried while the cluster cannot be reached)."""
        from kafka.errors import KafkaError as KafkaPythonError

        try:
            return admin_call(self._config, call, TIMEOUT_S)
        except KafkaPythonError as exc:
            raise AdminError(type(exc).__name__, str(exc)) from exc

    # -- client quotas (KafkaUser spec.quotas) ------------------------------------------------------------------

    def describe_user_quotas(self, user: str) -> dict[str, float]:
        """The quotas set on the user entity itself (DescribeClientQuotas, strict match on `user=<user>`)."""
        from kafka.protocol.admin import DescribeClientQuotasRequest as Request

        request = Request(components=[Request.ComponentData(entity_type="user", match_type=0, match=user)], strict=True)
        response = self._quota_request(request)
        if response.error_code:
            raise AdminError(
                _KAFKA_PYTHON_ERRORS.get(response.error_code, str(response.error_code)), str(response.error_message)
            )
        out: dict[str, float] = {}
        for entry in response.entries or ():
            if [(e.entity_type, e.entity_name) for e in entry.entity] == [("user", user)]:
                out.update({value.key: float(value.value) for value in entry.values})
        return out

    def alter_user_quotas(self, user: str, set_: Mapping[str, float], remove: Iterable[str]) -> None:
        from kafka.protocol.admin import AlterClientQuotasRequest as Request

        ops = [Request.EntryData.OpData(key=k, value=float(v), remove=False) for k, v in sorted(set_.items())]
        ops += [Request.EntryData.OpData(key=k, value=0.0, remove=True) for k in sorted(remove)]
        if not ops:
            return
        entity = [Request.EntryData.EntityData(entity_type="user", entity_name=user)]
        response = self._quota_request(
            Request(entries=[Request.EntryData(entity=entity, ops=ops)], validate_only=False)
        )
        for entry in response.entries:
            if entry.error_code:
                code = _KAFKA_PYTHON_ERRORS.get(entry.error_code, str(entry.error_code))
                raise AdminError(code, str(entry.error_message))

    def _quota_request(self, request: Any) -> Any:
        """One request through kafka-python (odradek.kafka_python) with this admin's connection settings (client
        quotas, and the cluster-wide default broker config)."""
        from kafka.errors import KafkaError as KafkaPythonError

        try:
            return send_to_controller(self._config, request, TIMEOUT_S)
        except KafkaPythonError as exc:
            raise AdminError(type(exc).__name__, str(exc)) from exc


_KAFKA_PYTHON_ERRORS = {
    29: "TOPIC_AUTHORIZATION_FAILED",
    31: "CLUSTER_AUTHORIZATION_FAILED",
    40: "INVALID_CONFIG",
    42: "INVALID_REQUEST",
    44: "POLICY_VIOLATION",
}
