"""``Controller``: validated writes of the cluster model (topics, partitions, configs, brokers, cluster id).

Configs are those of topics (inside ``/topics/<name>``) and the dynamic broker configs of BROKER resources
(``/configs/brokers/<id>``, and ``<default>`` for the cluster-wide default named "").

It speaks only the ``MetadataStore`` interface, so it runs unchanged on the embedded store and on etcd. Every
write is one transaction guarded by compares (``create_revision == 0`` to create, ``mod_revision == seen`` to
change) plus the ``fence``'s compares (``election.ControllerElection``: the controller key's create_revision,
DESIGN.md section 2); a write refused because the fence no longer holds is NOT_CONTROLLER.
A lost race re-reads and retries up to ``max_retries`` times. Errors are ``ControllerError`` with Kafka's
error codes.
Key layout and JSON: ``image``.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import random
import re
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Protocol

from odradek.broker.metadata.errors import ControllerError, ErrorCode
from odradek.broker.metadata.image import (
    BROKERS_PREFIX,
    CLUSTER_ID_KEY,
    PRODUCER_IDS_KEY,
    BrokerConfigRecord,
    BrokerImage,
    Endpoint,
    PartitionImage,
    TopicImage,
    TopicRecord,
    broker_config_key,
    broker_key,
    partition_key,
    partitions_prefix,
    topic_key,
)
from odradek.broker.metadata.partition_change import build
from odradek.broker.metadata.placement import assign_replicas
from odradek.broker.metadata.quotas import ClientQuotaRecord, QuotaEntityKey, quota_key
from odradek.broker.metadata.security import AclRecord, ScramCredentialRecord, acl_key, scram_key
from odradek.broker.metadata.store import Compare, MetadataStore, Op, TxnResult, TxnTooLargeError

__all__ = [
    "AdminFence",
    "BrokerConfigValidator",
    "ConfigValidator",
    "Controller",
    "ControllerError",
    "ControllerFence",
    "Unfenced",
    "new_cluster_id",
    "validate_broker_resource_name",
    "validate_manual_partition_assignment",
    "validate_topic_name",
]

ConfigValidator = Callable[[dict[str, str]], None]
BrokerConfigValidator = Callable[[str, dict[str, str]], None]

MAX_TOPIC_NAME_LENGTH = 249
# Puts (and compares) of one controller transaction that writes many partitions; etcd refuses more than 128
# (``--max-txn-ops``), and the fence adds one compare.
MAX_OPS_PER_TXN = 100
_LEGAL_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]+")


def _accept_all(configs: dict[str, str]) -> None:
    return None


def _accept_all_broker_configs(resource_name: str, configs: dict[str, str]) -> None:
    return None


class ControllerFence(Protocol):
    """Who the controller is, and the compares that hold only while this process is it."""

    @property
    def controller_id(self) -> int:
        """The controller's broker id; -1 when none is known."""
        ...

    def compares(self) -> Sequence[Compare]:
        """Added to every controller write; they hold only while this process is the controller."""
        ...


class Unfenced:
    """No fence and no known controller: a ``Controller`` used by tools and tests outside a broker."""

    controller_id = -1

    def compares(self) -> Sequence[Compare]:
        return ()


class AdminFence:
    """The fence of the admin writes any broker makes for its clients (CreateTopics, DeleteTopics, CreatePartitions,
    configs, ACLs, SCRAM credentials, quotas): no compares, the controller's id as `source` knows it.

    Kafka's brokers forward these requests to the controller; here the metadata store orders them instead: each is
    one transaction guarded by compares on its own keys (a topic is created only where none exists, a config changed
    only from the revision read), so two brokers writing at once cannot both win, and a paused broker's late write
    fails its compare. The controller's own decisions (leaders, ISRs, fencing brokers) stay fenced by its claim
    (`ControllerElection`), because those are the writes a paused ex-controller must never make."""

    def __init__(self, source: ControllerFence) -> None:
        self._source = source

    @property
    def controller_id(self) -> int:
        return self._source.controller_id

    def compares(self) -> Sequence[Compare]:
        return ()


def new_cluster_id() -> str:
    """22 characters: base64url (no padding) of a random uuid4, like Kafka's ``Uuid.randomUuid()``."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")


def validate_topic_name(name: str) -> None:
    """Kafka's ``Topic.validate``: not empty, ``.`` or ``..``; at most 249 of ``[a-zA-Z0-9._-]``."""
    if not name:
        raise ControllerError(ErrorCode.INVALID_TOPIC_EXCEPTION, "Topic name is illegal, it can't be empty")
    if name in (".", ".."):
        raise ControllerError(ErrorCode.INVALID_TOPIC_EXCEPTION, 'Topic name cannot be "." or ".."')
    if len(name) > MAX_TOPIC_NAME_LENGTH:
        raise ControllerError(
            ErrorCode.INVALID_TOPIC_EXCEPTION,
            f"Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME_LENGTH} characters, topic name: {name}",
        )
    if not _LEGAL_TOPIC_NAME.fullmatch(name):
        raise ControllerError(
            ErrorCode.INVALID_TOPIC_EXCEPTION,
            f"Topic name {name} is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'",
        )


def validate_manual_partition_assignment(replicas: Sequence[int], registered: Collection[int]) -> None:
    """Kafka's ``validateManualPartitionAssignment`` for one replica list (CreateTopics, CreatePartitions and
    AlterPartitionReassignments): INVALID_REPLICA_ASSIGNMENT when it is empty, names a broker twice or names a
    broker that is not registered."""
    if not replicas:
        raise ControllerError(
            ErrorCode.INVALID_REPLICA_ASSIGNMENT,
            "The manual partition assignment includes an empty replica list.",
        )
    if len(set(replicas)) != len(replicas):
        raise ControllerError(
            ErrorCode.INVALID_REPLICA_ASSIGNMENT,
            f"The manual partition assignment includes the broker(s) more than once: {list(replicas)}",
        )
    unknown = [b for b in replicas if b not in registered]
    if unknown:
        raise ControllerError(
            ErrorCode.INVALID_REPLICA_ASSIGNMENT,
            f"The manual partition assignment includes broker {unknown[0]}, but no such broker is registered.",
        )


def validate_broker_resource_name(name: str) -> None:
    """A BROKER config resource is "" (the cluster-wide default) or a non-negative decimal broker id."""
    if name and (not name.isdigit() or not name.isascii()):
        raise ControllerError(ErrorCode.INVALID_REQUEST, "Unable to parse broker name as a base 10 number.")


class Controller:
    """The controller's writes. ``validate_configs`` receives a topic's full override map and raises
    ``ControllerError`` (normally INVALID_CONFIG) to refuse it; ``validate_broker_configs`` does the same for
    a BROKER resource's name and full dynamic config map. The defaults accept everything."""

    def __init__(
        self,
        store: MetadataStore,
        *,
        validate_configs: ConfigValidator = _accept_all,
        validate_broker_configs: BrokerConfigValidator = _accept_all_broker_configs,
        default_num_partitions: int = 1,
        default_replication_factor: int = 1,
        max_partitions: int = 100_000,
        fence: ControllerFence | None = None,
        max_retries: int = 10,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._validate_configs = validate_configs
        self._validate_broker_configs = validate_broker_configs
        self.default_num_partitions = default_num_partitions
        self.default_replication_factor = default_replication_factor
        self._max_partitions = max_partitions
        self._fence: ControllerFence = fence or Unfenced()
        self._max_retries = max_retries
        self._rng = rng or random.Random()

    @property
    def controller_id(self) -> int:
        """The controller's broker id, as the fence knows it (-1: none known)."""
        return self._fence.controller_id

    # -- cluster and brokers -------------------------------------------------------------------------------

    async def ensure_cluster_id(self, cluster_id: str | None = None) -> str:
        """The stored cluster id; if there is none yet, stores ``cluster_id`` (or a new random one) first."""
        result = await self._store.txn(
            [Compare.absent(CLUSTER_ID_KEY)],
            [Op.put(CLUSTER_ID_KEY, (cluster_id or new_cluster_id()).encode())],
            [Op.get(CLUSTER_ID_KEY)],
        )
        return result.responses[0].kvs[0].value.decode()

    async def live_brokers(self) -> dict[int, BrokerImage]:
        """Registered brokers by id (registrations are lease-bound, so these are the live ones)."""
        brokers = {}
        for kv in (await self._store.range(BROKERS_PREFIX)).kvs:
            broker_id = int(kv.key[len(BROKERS_PREFIX) :])
            brokers[broker_id] = BrokerImage.from_json(broker_id, kv.value, kv)
        return dict(sorted(brokers.items()))

    async def register_broker(
        self,
        broker_id: int,
        host: str,
        port: int,
        *,
        rack: str | None = None,
        listeners: Sequence[Endpoint] = (),
        lease_id: int,
        fenced: bool = False,
        clean_shutdown: bool = True,
    ) -> BrokerImage:
        """Writes ``/brokers/<id>`` attached to ``lease_id`` (from ``store.grant_lease``).

        Another live registration of the same id under a different lease is refused with
        DUPLICATE_BROKER_REGISTRATION (it disappears when its lease expires); the same lease may re-register.
        ``fenced`` and ``clean_shutdown``: ``BrokerImage`` (a broker registers fenced; the controller unfences it).
        """
        image = BrokerImage(broker_id, host, port, rack, tuple(listeners), fenced, clean_shutdown)
        key = broker_key(broker_id)
        for _ in range(self._max_retries):
            current = await self._store.get(key)
            if current is not None and current.lease != lease_id:
                raise ControllerError(
                    ErrorCode.DUPLICATE_BROKER_REGISTRATION,
                    f"broker {broker_id} is already registered by another live process (lease {current.lease})",
                )
            seen = current.mod_revision if current else 0
            result = await self._store.txn([Compare.unchanged(key, seen)], [Op.put(key, image.to_json(), lease_id)], [])
            if result.succeeded:
                return image
        raise self._too_many_conflicts(f"broker {broker_id}")

    # -- topics --------------------------------------------------------------------------------------------

    async def create_topic(
        self,
        name: str,
        num_partitions: int = -1,
        replication_factor: int = -1,
        configs: Mapping[str, str] | None = None,
        assignments: Mapping[int, Sequence[int]] | None = None,
        validate_only: bool = False,
    ) -> TopicImage:
        """Creates a topic (Kafka's CreateTopics semantics; -1 means the broker default).

        Returns the topic as written (``mod_revision``: the store revision of the write; 0 if validate_only).
        """
        validate_topic_name(name)
        overrides = dict(configs or {})
        for _ in range(self._max_retries):
            if await self._store.get(topic_key(name)) is not None:
                raise ControllerError(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists.")
            live = await self.live_brokers()
            brokers = list(live)
            racks = {b: image.rack for b, image in live.items()}
            plan = self._plan_assignment(num_partitions, replication_factor, assignments, brokers, racks)
            self._validate_configs(dict(overrides))
            record = TopicRecord(str(uuid.uuid4()), len(plan), overrides)
            if validate_only:
                return _topic_image(name, record, plan, 0)
            ops = [Op.put(topic_key(name), record.to_json())]
            ops += [Op.put(partition_key(name, p), _new_partition(name, p, r).to_json()) for p, r in plan.items()]
            result = await self._write([Compare.absent(topic_key(name))], ops)
            if result.succeeded:
                return _topic_image(name, record, plan, result.revision)
        raise self._too_many_conflicts(f"topic {name}")

    def _plan_assignment(
        self,
        num_partitions: int,
        replication_factor: int,
        assignments: Mapping[int, Sequence[int]] | None,
        brokers: list[int],
        racks: Mapping[int, str | None] | None = None,
    ) -> dict[int, list[int]]:
        if assignments is not None:
            if num_partitions != -1 or replication_factor != -1:
                raise ControllerError(
                    ErrorCode.INVALID_REQUEST,
                    "Both numPartitions or replicationFactor and replicasAssignments were set. "
                    "Both cannot be used at the same time.",
                )
            if sorted(assignments) != list(range(len(assignments))) or not assignments:
                raise ControllerError(
                    ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                    "Partitions should be a consecutive 0-based integer sequence",
                )
            plan = {p: list(assignments[p]) for p in sorted(assignments)}
            self._check_manual(plan.values(), brokers, None)
            return plan
        partitions = self.default_num_partitions if num_partitions == -1 else num_partitions
        factor = self.default_replication_factor if replication_factor == -1 else replication_factor
        self._check_partition_count(partitions)
        self._check_replication_factor(factor, brokers)
        return assign_replicas(brokers, partitions, factor, rng=self._rng, racks=racks)

    def _check_partition_count(self, partitions: int) -> None:
        if partitions <= 0:
            raise ControllerError(ErrorCode.INVALID_PARTITIONS, "Number of partitions must be larger than 0.")
        if partitions > self._max_partitions:
            raise ControllerError(
                ErrorCode.INVALID_PARTITIONS,
                f"Number of partitions {partitions} is larger than the limit of {self._max_partitions}.",
            )

    @staticmethod
    def _check_replication_factor(factor: int, brokers: list[int]) -> None:
        if factor <= 0:
            raise ControllerError(ErrorCode.INVALID_REPLICATION_FACTOR, "Replication factor must be larger than 0.")
        if factor > len(brokers):
            raise ControllerError(
                ErrorCode.INVALID_REPLICATION_FACTOR,
                f"Unable to replicate the partition {factor} time(s): The target replication factor "
                f"of {factor} cannot be reached because only {len(brokers)} broker(s) are registered.",
            )

    @staticmethod
    def _check_manual(lists: Iterable[Sequence[int]], brokers: list[int], factor: int | None) -> None:
        live = set(brokers)
        for replicas in lists:
            validate_manual_partition_assignment(replicas, live)
            factor = len(replicas) if factor is None else factor
            if len(replicas) != factor:
                raise ControllerError(
                    ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                    f"The manual partition assignment includes a partition with {len(replicas)} replica(s), "
                    f"but this is not consistent with previous partitions, which have {factor} replica(s).",
                )

    async def delete_topic(self, name: str) -> TopicImage:
        """Deletes the topic and all its partitions in one transaction; returns what was deleted."""
        for _ in range(self._max_retries):
            topic = await self.describe_topic(name)
            ops = [Op.delete(topic_key(name)), Op.delete(partitions_prefix(name), prefix=True)]
            result = await self._write([Compare.unchanged(topic_key(name), topic.mod_revision)], ops)
            if result.succeeded:
                return topic
        raise self._too_many_conflicts(f"topic {name}")

    async def describe_topic(self, name: str) -> TopicImage:
        """The topic as stored now (not from a cache); UNKNOWN_TOPIC_OR_PARTITION if absent."""
        kv = await self._store.get(topic_key(name))
        if kv is None:
            raise ControllerError(
                ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                f"This server does not host this topic-partition: {name}",
            )
        record = TopicRecord.from_json(kv.value)
        partitions = {}
        for pkv in (await self._store.range(partitions_prefix(name))).kvs:
            partition = int(pkv.key[len(partitions_prefix(name)) :])
            partitions[partition] = PartitionImage.from_json(name, partition, pkv.value, pkv.mod_revision)
        return TopicImage(
            name,
            record.topic_id,
            record.partitions,
            record.configs,
            dict(sorted(partitions.items())),
            kv.mod_revision,
        )

    async def create_partitions(
        self,
        name: str,
        new_total: int,
        assignments: Sequence[Sequence[int]] | None = None,
        validate_only: bool = False,
    ) -> TopicImage:
        """Grows a topic to ``new_total`` partitions (CreatePartitions).

        ``assignments`` lists the replicas of the new partitions only, in order.
        """
        for _ in range(self._max_retries):
            topic = await self.describe_topic(name)
            current = topic.num_partitions
            if new_total < current:
                raise ControllerError(
                    ErrorCode.INVALID_PARTITIONS,
                    f"Topic currently has {current} partitions, which is higher than the requested {new_total}.",
                )
            if new_total == current:
                raise ControllerError(ErrorCode.INVALID_PARTITIONS, f"Topic already has {current} partitions.")
            self._check_partition_count(new_total)
            plan = await self._plan_new_partitions(topic, new_total, assignments)
            record = TopicRecord(topic.topic_id, new_total, topic.configs)
            parts = dict(topic.partitions)
            if validate_only:
                parts.update({p: _new_partition(name, p, r) for p, r in plan.items()})
                return TopicImage(name, topic.topic_id, new_total, topic.configs, parts, topic.mod_revision)
            ops = [Op.put(topic_key(name), record.to_json())]
            ops += [Op.put(partition_key(name, p), _new_partition(name, p, r).to_json()) for p, r in plan.items()]
            compares = [Compare.unchanged(topic_key(name), topic.mod_revision)]
            compares += [Compare.absent(partition_key(name, p)) for p in plan]
            result = await self._write(compares, ops)
            if result.succeeded:
                parts.update({p: _new_partition(name, p, r, result.revision) for p, r in plan.items()})
                return TopicImage(name, topic.topic_id, new_total, topic.configs, parts, result.revision)
        raise self._too_many_conflicts(f"topic {name}")

    async def _plan_new_partitions(
        self, topic: TopicImage, new_total: int, assignments: Sequence[Sequence[int]] | None
    ) -> dict[int, list[int]]:
        live = await self.live_brokers()
        brokers = list(live)
        added = new_total - topic.num_partitions
        first = topic.partitions.get(0)
        factor = len(first.replicas) if first else self.default_replication_factor
        if assignments is not None:
            if len(assignments) != added:
                raise ControllerError(
                    ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                    f"Attempted to add {added} additional partition(s), "
                    f"but only {len(assignments)} assignment(s) were specified.",
                )
            self._check_manual(assignments, brokers, factor)
            return {topic.num_partitions + i: list(r) for i, r in enumerate(assignments)}
        self._check_replication_factor(factor, brokers)
        ids = sorted(brokers)
        start = next((i for i, b in enumerate(ids) if first and b >= first.replicas[0]), 0)
        return assign_replicas(
            ids,
            added,
            factor,
            start_partition=topic.num_partitions,
            start_index=start,
            replica_shift=start,
            racks={b: image.rack for b, image in live.items()},
        )

    async def alter_topic_configs(
        self,
        name: str,
        set_configs: Mapping[str, str] | None = None,
        delete_configs: Iterable[str] = (),
        validate_only: bool = False,
        *,
        replace: bool = False,
    ) -> TopicImage:
        """Sets and removes config overrides (IncrementalAlterConfigs); ``replace=True`` makes ``set_configs``
        the whole override map (legacy AlterConfigs). The validator sees the resulting map."""
        for _ in range(self._max_retries):
            topic = await self.describe_topic(name)
            configs = {} if replace else dict(topic.configs)
            configs.update(set_configs or {})
            for key in delete_configs:
                configs.pop(key, None)
            self._validate_configs(dict(configs))
            record = TopicRecord(topic.topic_id, topic.num_partitions, configs)
            if validate_only:
                return _replace_configs(topic, configs, topic.mod_revision)
            result = await self._write(
                [Compare.unchanged(topic_key(name), topic.mod_revision)],
                [Op.put(topic_key(name), record.to_json())],
            )
            if result.succeeded:
                return _replace_configs(topic, configs, result.revision)
        raise self._too_many_conflicts(f"topic {name}")

    # -- dynamic broker configs ----------------------------------------------------------------------------

    async def broker_configs(self, resource_name: str) -> dict[str, str]:
        """The dynamic configs stored for a BROKER resource ("" the cluster-wide default), as read now."""
        validate_broker_resource_name(resource_name)
        kv = await self._store.get(broker_config_key(resource_name))
        return {} if kv is None else dict(BrokerConfigRecord.from_json(kv.value).configs)

    async def alter_broker_configs(
        self,
        resource_name: str,
        set_configs: Mapping[str, str] | None = None,
        delete_configs: Iterable[str] = (),
        validate_only: bool = False,
        *,
        replace: bool = False,
    ) -> dict[str, str]:
        """Sets and removes dynamic configs of a BROKER resource, as ``alter_topic_configs`` does for a topic
        (``replace=True``: legacy AlterConfigs). An empty result deletes the key. Returns the resulting map."""
        validate_broker_resource_name(resource_name)
        key = broker_config_key(resource_name)
        for _ in range(self._max_retries):
            current = await self._store.get(key)
            configs = {} if replace or current is None else dict(BrokerConfigRecord.from_json(current.value).configs)
            configs.update(set_configs or {})
            for name in delete_configs:
                configs.pop(name, None)
            self._validate_broker_configs(resource_name, dict(configs))
            if validate_only:
                return configs
            compare = Compare.unchanged(key, current.mod_revision) if current else Compare.absent(key)
            write = Op.put(key, BrokerConfigRecord(configs).to_json()) if configs else Op.delete(key)
            result = await self._write([compare], [write])
            if result.succeeded:
                return configs
        raise self._too_many_conflicts(f"broker config resource {resource_name!r}")

    # -- security: SCRAM credentials and ACLs ------------------------------------------------------------

    async def put_scram_credential(
        self, mechanism: str, user: str, record: ScramCredentialRecord, *, only_if_absent: bool = False
    ) -> bool:
        """Creates or replaces one user's credential for a mechanism; with ``only_if_absent`` an existing one is
        kept (bootstrap users: a first start only) and False returned."""
        key = scram_key(mechanism, user)
        compares = [Compare.absent(key)] if only_if_absent else []
        result = await self._write(compares, [Op.put(key, record.to_json())])
        return result.succeeded

    async def delete_scram_credential(self, mechanism: str, user: str) -> None:
        """RESOURCE_NOT_FOUND (Kafka's message) if the user has no credential for the mechanism."""
        key = scram_key(mechanism, user)
        for _ in range(self._max_retries):
            current = await self._store.get(key)
            if current is None:
                raise ControllerError(
                    ErrorCode.RESOURCE_NOT_FOUND, "Attempt to delete a user credential that does not exist"
                )
            if (await self._write([Compare.unchanged(key, current.mod_revision)], [Op.delete(key)])).succeeded:
                return
        raise self._too_many_conflicts(f"SCRAM credential of {user!r}")

    async def create_acls(self, records: Sequence[AclRecord]) -> list[str]:
        """Stores new ACLs in one write (each under a fresh uuid4 id, Kafka's StandardAcl id); returns the ids."""
        ids = [str(uuid.uuid4()) for _ in records]
        ops = [Op.put(acl_key(acl_id), record.to_json()) for acl_id, record in zip(ids, records, strict=True)]
        compares = [Compare.absent(acl_key(acl_id)) for acl_id in ids]
        if ops and not (await self._write(compares, ops)).succeeded:
            raise self._too_many_conflicts("new ACL ids")
        return ids

    async def delete_acls(self, acl_ids: Iterable[str]) -> None:
        """Removes ACLs by id in one write (ids already gone are no error: a concurrent delete won)."""
        ops = [Op.delete(acl_key(acl_id)) for acl_id in sorted(set(acl_ids))]
        if ops:
            await self._write([], ops)

    # -- client quotas ----------------------------------------------------------------------------------

    async def alter_client_quotas(
        self, entity: QuotaEntityKey, alterations: Mapping[str, float | None], validate_only: bool = False
    ) -> dict[str, float]:
        """Sets (a value) and removes (None) quota values of one entity, read-modify-write under a CAS on its key
        (Kafka's ClientQuotaControlManager: removing an absent key is no error). An entity left without values loses
        its key. Returns the entity's resulting values."""
        key = quota_key(entity)
        for _ in range(self._max_retries):
            current = await self._store.get(key)
            quotas = {} if current is None else dict(ClientQuotaRecord.from_json(current.value).quotas)
            for name, value in alterations.items():
                if value is None:
                    quotas.pop(name, None)
                else:
                    quotas[name] = value
            if validate_only:
                return quotas
            compare = Compare.unchanged(key, current.mod_revision) if current else Compare.absent(key)
            if not quotas and current is None:
                return quotas
            write = Op.put(key, ClientQuotaRecord(quotas).to_json()) if quotas else Op.delete(key)
            if (await self._write([compare], [write])).succeeded:
                return quotas
        raise self._too_many_conflicts(f"client quota entity {entity!r}")

    # -- partitions ----------------------------------------------------------------------------------------

    async def update_partition(
        self,
        current: PartitionImage,
        *,
        leader: int | None = None,
        isr: Sequence[int] | None = None,
        replicas: Sequence[int] | None = None,
    ) -> PartitionImage:
        """CAS-updates one partition's state from ``current`` (as last read): a new leader bumps
        ``leader_epoch``, any change bumps ``partition_epoch``. No retry: if the partition changed meanwhile,
        raises INVALID_UPDATE_VERSION and the caller re-reads and decides again (Kafka's AlterPartition)."""
        new_leader = current.leader if leader is None else leader
        updated = dataclasses.replace(
            current,
            replicas=tuple(current.replicas if replicas is None else replicas),
            leader=new_leader,
            leader_epoch=current.leader_epoch + (1 if new_leader != current.leader else 0),
            isr=tuple(current.isr if isr is None else isr),
            partition_epoch=current.partition_epoch + 1,
            mod_revision=0,
        )
        key = partition_key(current.topic, current.partition)
        result = await self._write([Compare.unchanged(key, current.mod_revision)], [Op.put(key, updated.to_json())])
        if not result.succeeded:
            raise ControllerError(
                ErrorCode.INVALID_UPDATE_VERSION,
                f"partition {current.topic}-{current.partition} changed since revision {current.mod_revision}",
            )
        return dataclasses.replace(updated, mod_revision=result.revision)

    async def update_partitions(self, updates: Sequence[PartitionImage]) -> int:
        """Writes new partition states in one fenced transaction, each compared with the ``mod_revision`` it was
        computed from (``partition_change.build`` keeps it); epochs are the caller's. Returns the store revision of
        the write, 0 (nothing written) if any of them changed meanwhile; NOT_CONTROLLER if the fence no longer
        holds. At most ``MAX_OPS_PER_TXN`` updates (etcd's ``--max-txn-ops`` default is 128 per branch and per
        compare list)."""
        if len(updates) > MAX_OPS_PER_TXN:
            raise ValueError(f"{len(updates)} partition updates in one transaction (at most {MAX_OPS_PER_TXN})")
        if not updates:
            return 0
        keys = [partition_key(u.topic, u.partition) for u in updates]
        compares = [Compare.unchanged(k, u.mod_revision) for k, u in zip(keys, updates, strict=True)]
        ops = [Op.put(k, u.to_json()) for k, u in zip(keys, updates, strict=True)]
        result = await self._write(compares, ops)
        return result.revision if result.succeeded else 0

    async def unfence_broker(self, broker: BrokerImage) -> int:
        """Rewrites a registration as read (``broker.mod_revision``, under its own ``lease``) with ``fenced``
        false; returns the write's revision, 0 if it changed or went away meanwhile. Fenced by the controller
        claim like every other write."""
        key = broker_key(broker.broker_id)
        record = dataclasses.replace(broker, fenced=False)
        result = await self._write(
            [Compare.unchanged(key, broker.mod_revision)], [Op.put(key, record.to_json(), broker.lease)]
        )
        return result.revision if result.succeeded else 0

    # -- producer ids -------------------------------------------------------------------------------------

    async def allocate_producer_ids(self, broker_id: int, count: int) -> int:
        """Reserve `count` producer ids for `broker_id` and return the first (Kafka's AllocateProducerIds /
        ProducerIdControlManager.generateNextProducerId): a CAS on `PRODUCER_IDS_KEY`, retried on a lost race.
        Not fenced by the controller claim: the CAS alone keeps blocks disjoint, so any broker may allocate.
        UNKNOWN_SERVER_ERROR once the next block would pass the int64 limit, as Kafka."""
        if count <= 0:
            raise ControllerError(ErrorCode.INVALID_REQUEST, f"cannot allocate {count} producer ids")
        for _ in range(self._max_retries):
            current = await self._store.get(PRODUCER_IDS_KEY)
            first = 0 if current is None else int(json.loads(current.value)["next_producer_id"])
            if first > 2**63 - 1 - count:
                raise ControllerError(
                    ErrorCode.UNKNOWN_SERVER_ERROR,
                    "Exhausted all producerIds as the next block's end producerId has exceeded the int64 type limit",
                )
            value = json.dumps({"broker_id": broker_id, "next_producer_id": first + count}).encode()
            compare = (
                Compare.unchanged(PRODUCER_IDS_KEY, current.mod_revision)
                if current
                else Compare.absent(PRODUCER_IDS_KEY)
            )
            result = await self._store.txn([compare], [Op.put(PRODUCER_IDS_KEY, value)], [])
            if result.succeeded:
                return first
        raise self._too_many_conflicts("the producer id block")

    # -- plumbing ------------------------------------------------------------------------------------------

    async def _write(self, compares: list[Compare], success: list[Op]) -> TxnResult:
        """One guarded write; NOT_CONTROLLER if it failed because the fencing compares no longer hold."""
        fencing = list(self._fence.compares())
        try:
            result = await self._store.txn(compares + fencing, success, [])
        except TxnTooLargeError as exc:
            # Kafka's controller refuses a user operation over its record limit the same way (POLICY_VIOLATION).
            raise ControllerError(
                ErrorCode.POLICY_VIOLATION,
                f"the metadata store refused one transaction of {len(success)} writes ({exc}); create fewer "
                "partitions per request, or raise etcd's --max-txn-ops and --max-request-bytes",
            ) from None
        if not result.succeeded and fencing and not (await self._store.txn(fencing, [], [])).succeeded:
            raise ControllerError(ErrorCode.NOT_CONTROLLER, "this broker is no longer the controller")
        return result

    def _too_many_conflicts(self, what: str) -> ControllerError:
        return ControllerError(
            ErrorCode.REQUEST_TIMED_OUT,
            f"{what} kept changing concurrently; gave up after {self._max_retries} tries",
        )

    # -- AlterPartition (issue 10, repl) -----------------------------------------------------------------------

    async def alter_partition(
        self,
        topic: str,
        partition: int,
        leader_id: int,
        leader_epoch: int,
        partition_epoch: int,
        new_isr: Sequence[int],
    ) -> PartitionImage:
        """A partition leader's ISR change with Kafka's AlterPartition semantics, as one CAS on the partition
        record. Not fenced by the controller claim (the CAS on the record is the fence), so a leader can change
        its ISR while the controller changes hands. Refusals (ControllerError):
        - UNKNOWN_TOPIC_OR_PARTITION: no such record;
        - FENCED_LEADER_EPOCH: the stored leader or leader epoch is not the sender's (a newer leader exists);
        - INVALID_UPDATE_VERSION: the stored partition epoch is not `partition_epoch` (the record changed since
          the leader last saw it; it waits for the next image), also when the CAS itself loses a race;
        - INVALID_REQUEST: the new ISR lacks the leader, has duplicates or names a non-replica;
        - INELIGIBLE_REPLICA: it adds a broker that is not registered, is fenced or is in controlled shutdown
          (KIP-841).
        On success the partition epoch grows by one; fields of the record this method does not know are kept. An
        ISR that completes a reassignment in progress (``partition_change.build``: every target replica in sync)
        completes it in the same write when the sender stays the leader, as Kafka's controller does (the removed
        replicas leave replicas and ISR, the leader epoch grows if any was removed); when the sender is being
        removed, the controller's next pass completes it with an election."""
        key = partition_key(topic, partition)
        current = await self._store.get(key)
        if current is None:
            raise ControllerError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"no partition {topic}-{partition}")
        stored = PartitionImage.from_json(topic, partition, current.value, current.mod_revision)
        if stored.leader != leader_id or stored.leader_epoch != leader_epoch:
            raise ControllerError(
                ErrorCode.FENCED_LEADER_EPOCH,
                f"{topic}-{partition} is led by {stored.leader} at epoch {stored.leader_epoch}, not by {leader_id} "
                f"at {leader_epoch}",
            )
        if stored.partition_epoch != partition_epoch:
            raise ControllerError(
                ErrorCode.INVALID_UPDATE_VERSION,
                f"{topic}-{partition} is at partition epoch {stored.partition_epoch}, not {partition_epoch}",
            )
        isr = list(new_isr)
        if leader_id not in isr or len(set(isr)) != len(isr) or not set(isr) <= set(stored.replicas):
            raise ControllerError(ErrorCode.INVALID_REQUEST, f"invalid ISR {isr} for replicas {list(stored.replicas)}")
        added = set(isr) - set(stored.isr)
        if added:
            registered = await self.live_brokers()
            missing = sorted(b for b in added if b not in registered)
            if missing:
                raise ControllerError(ErrorCode.INELIGIBLE_REPLICA, f"brokers {missing} are not registered")
            # KIP-841: a fenced broker or one in controlled shutdown may not join an ISR (it would be taken out
            # again by the controller's next pass, and meanwhile count towards min.insync.replicas).
            ineligible = sorted(b for b in added if registered[b].fenced or registered[b].shutting_down)
            if ineligible:
                raise ControllerError(
                    ErrorCode.INELIGIBLE_REPLICA, f"brokers {ineligible} are fenced or in controlled shutdown"
                )
        doc = json.loads(current.value)
        doc["isr"] = isr
        doc["partition_epoch"] = partition_epoch + 1
        if stored.is_reassigning:
            # Only the sender may stay leader here (it is alive: it sent this); electing another needs the broker
            # states only the controller's pass has.
            after = build(stored, lambda broker: broker == leader_id, target_isr=isr)
            if after is not None and not after.is_reassigning and after.leader == leader_id:
                doc.update(json.loads(after.to_json()))
                for name in ("adding_replicas", "removing_replicas"):
                    doc.pop(name, None)
        value = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        result = await self._store.txn([Compare.unchanged(key, current.mod_revision)], [Op.put(key, value)], [])
        if not result.succeeded:
            raise ControllerError(ErrorCode.INVALID_UPDATE_VERSION, f"{topic}-{partition} changed concurrently")
        return PartitionImage.from_json(topic, partition, value, result.revision)


def _new_partition(topic: str, partition: int, replicas: list[int], revision: int = 0) -> PartitionImage:
    return PartitionImage(topic, partition, tuple(replicas), replicas[0], 0, tuple(replicas), 0, revision)


def _topic_image(name: str, record: TopicRecord, plan: dict[int, list[int]], revision: int) -> TopicImage:
    parts = {p: _new_partition(name, p, r, revision) for p, r in plan.items()}
    return TopicImage(name, record.topic_id, record.partitions, dict(record.configs), parts, revision)


def _replace_configs(topic: TopicImage, configs: dict[str, str], revision: int) -> TopicImage:
    return TopicImage(topic.name, topic.topic_id, topic.num_partitions, configs, topic.partitions, revision)
