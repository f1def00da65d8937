"""Which broker config changes a running cluster takes without a restart, and the IncrementalAlterConfigs ops
that apply them (Strimzi's KafkaBrokerConfigurationDiff), as pure functions.

The operator knows which keys are dynamic from `resources/update_modes.py`, a table generated from the broker's
definitions (tools/gen_update_modes.py), as Strimzi ships a config model generated per Kafka version. Not from
DescribeConfigs' read_only flags: the decision to roll is part of the StatefulSet's pod template (the config hash
of `static_properties`), which a pure builder computes whether or not the brokers can be reached; asking them
would make the hash, and so a roll, depend on whether a broker answered.

Ownership: the operator owns the cluster-wide default (BROKER resource "") entirely, as the topic operator owns a
topic's configs: it holds exactly spec.kafka.config's cluster-wide keys, anything else there is deleted (set
outside Kubernetes, or removed from the spec). On each broker's resource ("<id>") it owns the per-broker keys and
any override of a cluster-wide key the spec sets (deleted, so that the spec's value is the one in force); other
per-broker overrides (a reassignment's `leader.replication.throttled.rate`, say) are left alone.

A key removed from the spec is deleted from the dynamic layer (a DELETE op); the broker then falls back to the
server.properties it started with. When that still had the key (the broker has not restarted since the key was in
the spec), `restore_defaults` sets the key's default on the cluster-wide default, which is what a restart with the
current server.properties would give; a value equal to the default left there is not deleted again (that would
bring the stale value back until the next restart).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from odradek.operator.kafka_admin import BrokerConfigEntry
from odradek.operator.resources.update_modes import CLUSTER_WIDE, DYNAMIC_KEYS, PER_BROKER

__all__ = [
    "CLUSTER_DEFAULT",
    "BrokerConfigOps",
    "describe_ops",
    "dynamic_keys",
    "dynamic_updates",
    "is_dynamic",
    "restore_defaults",
    "static_keys",
]

CLUSTER_DEFAULT = ""  # the BROKER resource of the cluster-wide default
DYNAMIC_DEFAULT = "DYNAMIC_DEFAULT_BROKER_CONFIG"
DYNAMIC_BROKER = "DYNAMIC_BROKER_CONFIG"
STATIC = "STATIC_BROKER_CONFIG"


@dataclass(frozen=True, slots=True)
class BrokerConfigOps:
    """IncrementalAlterConfigs of one BROKER resource: `resource` is "" (cluster-wide default) or a broker id."""

    resource: str
    set: Mapping[str, str] = field(default_factory=dict)
    delete: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.set or self.delete)


def is_dynamic(key: str, modes: Mapping[str, tuple[str, str | None]] = DYNAMIC_KEYS) -> bool:
    return key in modes


def dynamic_keys(
    config: Mapping[str, str], modes: Mapping[str, tuple[str, str | None]] = DYNAMIC_KEYS
) -> dict[str, str]:
    """The entries of `config` that a running broker takes without a restart."""
    return {key: value for key, value in config.items() if key in modes}


def static_keys(
    config: Mapping[str, str], modes: Mapping[str, tuple[str, str | None]] = DYNAMIC_KEYS
) -> dict[str, str]:
    """The entries of `config` that need a restart to change (read-only keys): what the roll decision hashes."""
    return {key: value for key, value in config.items() if key not in modes}


def dynamic_updates(
    desired: Mapping[str, str],
    cluster_default: Mapping[str, BrokerConfigEntry],
    brokers: Mapping[int, Mapping[str, BrokerConfigEntry]],
    modes: Mapping[str, tuple[str, str | None]] = DYNAMIC_KEYS,
) -> list[BrokerConfigOps]:
    """The ops that make the dynamic layer what `desired` (spec.kafka.config as strings) asks (module docstring).

    `cluster_default`: DescribeConfigs of resource "" (only the keys set there); `brokers`: of each broker's
    resource by id. Resources with nothing to change are left out; the cluster-wide default comes first.
    """
    wanted = dynamic_keys(desired, modes)
    cluster_wide = {k: v for k, v in wanted.items() if modes[k][0] == CLUSTER_WIDE}
    per_broker = {k: v for k, v in wanted.items() if modes[k][0] == PER_BROKER}
    current = {k: e.value for k, e in cluster_default.items() if e.source == DYNAMIC_DEFAULT}
    sets = {k: v for k, v in cluster_wide.items() if current.get(k) != v}
    kept = {k for k, v in current.items() if k not in cluster_wide and v is not None and v == _default(k, modes)}
    deletes = tuple(sorted(k for k in current if k not in cluster_wide and k not in kept))
    out = [BrokerConfigOps(CLUSTER_DEFAULT, sets, deletes)]
    for broker_id, entries in sorted(brokers.items()):
        overrides = {k: e.value for k, e in entries.items() if e.source == DYNAMIC_BROKER}
        broker_sets = {k: v for k, v in per_broker.items() if overrides.get(k) != v}
        broker_deletes = [k for k in overrides if k in cluster_wide]  # the spec's cluster-wide value must win
        broker_deletes += [k for k in overrides if modes.get(k, ("", None))[0] == PER_BROKER and k not in per_broker]
        out.append(BrokerConfigOps(str(broker_id), broker_sets, tuple(sorted(broker_deletes))))
    return [ops for ops in out if ops]


def restore_defaults(
    desired: Mapping[str, str],
    brokers: Mapping[int, Mapping[str, BrokerConfigEntry]],
    modes: Mapping[str, tuple[str, str | None]] = DYNAMIC_KEYS,
) -> BrokerConfigOps:
    """SET on the cluster-wide default the default of each cluster-wide key that `desired` does not name and that
    some broker takes from its server.properties (source STATIC_BROKER_CONFIG): that broker started while the key
    was in the spec, and the current server.properties no longer has it, so the default is what a restart would
    give. Keys without a default are left as they are. `brokers`: DescribeConfigs after `dynamic_updates`' ops."""
    stale = {
        key
        for entries in brokers.values()
        for key, entry in entries.items()
        if entry.source == STATIC and key not in desired and modes.get(key, ("", None))[0] == CLUSTER_WIDE
    }
    sets = {key: default for key in sorted(stale) if (default := _default(key, modes)) is not None}
    return BrokerConfigOps(CLUSTER_DEFAULT, sets)


def describe_ops(ops: Iterable[BrokerConfigOps]) -> str:
    """`key=value` and `-key` (deleted) per resource, for the status and the log: `cluster-wide default: a=1, -b`."""
    parts = []
    for item in ops:
        where = "cluster-wide default" if item.resource == CLUSTER_DEFAULT else f"broker {item.resource}"
        changes = [f"{k}={v}" for k, v in sorted(item.set.items())] + [f"-{k}" for k in item.delete]
        parts.append(f"{where}: {', '.join(changes)}")
    return "; ".join(parts)


def _default(key: str, modes: Mapping[str, tuple[str, str | None]]) -> str | None:
    return modes.get(key, ("", None))[1]
