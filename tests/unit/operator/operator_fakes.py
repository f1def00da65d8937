"""Fakes of the operator's edges for unit tests: `FakeAdmin` (a ClusterAdmin over dictionaries, recording every
call, with errors injectable per method); `FakeKube` (tests/kube_fakes.py, shared with the integration tests)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from kube_fakes import FakeKube, secret_value
from odradek.operator.kafka_admin import AclRule, AdminError, BrokerConfigEntry, TopicState
from odradek.operator.roller import ClusterView

__all__ = ["FakeAdmin", "FakeKube", "secret_value"]


class FakeAdmin:
    def __init__(self) -> None:
        self.topics: dict[str, TopicState] = {}
        self.scram: dict[str, str] = {}
        self.acls: dict[str, set[AclRule]] = {}
        self.calls: list[tuple[str, Any]] = []
        self.fail: dict[str, AdminError] = {}
        self.view = ClusterView((), {})
        self.quotas: dict[str, dict[str, float]] = {}
        self.brokers: tuple[int, ...] = (0,)
        # (topic, partition) -> target replicas of a reassignment in progress; `finish_reassignments` ends them
        self.reassigning: dict[tuple[str, int], tuple[int, ...]] = {}
        # dynamic broker configs as the brokers keep them: resource ("" = cluster-wide default, or a broker id) ->
        # key -> value; `static` is each broker's server.properties as it started (key -> value)
        self.broker_configs: dict[str, dict[str, str]] = {}
        self.static: dict[int, dict[str, str]] = {}

    def _call(self, method: str, arg: Any) -> None:
        self.calls.append((method, arg))
        if method in self.fail:
            raise self.fail[method]

    def mutations(self) -> list[str]:
        reads = (
            "describe_topic",
            "describe_topic_states",
            "topic_id",
            "describe_acls",
            "cluster_view",
            "describe_user_quotas",
            "broker_ids",
            "list_reassignments",
            "describe_broker_configs",
        )
        return [m for m, _ in self.calls if m not in reads]

    def describe_user_quotas(self, user: str) -> dict[str, float]:
        self._call("describe_user_quotas", user)
        return dict(self.quotas.get(user, {}))

    def alter_user_quotas(self, user: str, set_: Mapping[str, float], remove: Iterable[str]) -> None:
        remove = sorted(remove)
        if not set_ and not remove:
            return
        self._call("alter_user_quotas", (user, dict(set_), remove))
        current = {k: v for k, v in self.quotas.get(user, {}).items() if k not in remove}
        self.quotas[user] = {**current, **set_}

    def broker_ids(self) -> tuple[int, ...]:
        self._call("broker_ids", None)
        return self.brokers

    def describe_broker_configs(self, broker: str) -> dict[str, BrokerConfigEntry]:
        """As Kafka: resource "" lists the keys set there; a broker's lists the keys set anywhere (the tests' keys
        only), each from the highest layer that has it."""
        self._call("describe_broker_configs", broker)
        default = self.broker_configs.get("", {})
        if broker == "":
            return {k: BrokerConfigEntry(k, v, "DYNAMIC_DEFAULT_BROKER_CONFIG") for k, v in default.items()}
        layers = (
            (self.broker_configs.get(broker, {}), "DYNAMIC_BROKER_CONFIG"),
            (default, "DYNAMIC_DEFAULT_BROKER_CONFIG"),
            (self.static.get(int(broker), {}), "STATIC_BROKER_CONFIG"),
        )
        out: dict[str, BrokerConfigEntry] = {}
        for layer, source in reversed(layers):
            out.update({k: BrokerConfigEntry(k, v, source) for k, v in layer.items()})
        return out

    def alter_broker_configs(self, broker: str, set_: Mapping[str, str], delete: Iterable[str]) -> None:
        delete = sorted(delete)
        self._call("alter_broker_configs", (broker, dict(set_), delete))
        layer = self.broker_configs.setdefault(broker, {})
        for key in delete:
            layer.pop(key, None)
        layer.update(set_)

    def list_reassignments(self, topic: str | None = None) -> dict[tuple[str, int], tuple[int, ...]]:
        self._call("list_reassignments", topic)
        return {tp: r for tp, r in self.reassigning.items() if topic is None or tp[0] == topic}

    def alter_reassignments(self, targets: Mapping[tuple[str, int], Sequence[int]]) -> None:
        """As Kafka (KIP-455): while a partition is reassigned, Metadata lists the target replicas and then the
        ones being removed."""
        self._call("alter_reassignments", {tp: tuple(r) for tp, r in targets.items()})
        self.reassigning.update({tp: tuple(r) for tp, r in targets.items()})
        for (name, partition), target in sorted(targets.items()):
            if name in self.topics:
                state = self.topics[name]
                assignment = list(state.assignment)
                removing = tuple(b for b in assignment[partition] if b not in target)
                assignment[partition] = tuple(target) + removing
                self.topics[name] = replace(state, assignment=tuple(assignment))

    def finish_reassignments(self) -> None:
        """Every reassignment in progress completes: topics get their targets, the view its replicas."""
        for (name, partition), target in sorted(self.reassigning.items()):
            if name in self.topics:
                state = self.topics[name]
                assignment = list(state.assignment)
                assignment[partition] = target
                self.topics[name] = replace(state, assignment=tuple(assignment))
        done = self.reassigning
        self.view = replace(
            self.view,
            partitions=tuple(
                replace(p, replicas=done.get((p.topic, p.partition), p.replicas)) for p in self.view.partitions
            ),
        )
        self.reassigning = {}

    def cluster_view(self) -> ClusterView:
        self._call("cluster_view", None)
        return self.view

    def describe_topic(self, name: str) -> TopicState | None:
        self._call("describe_topic", name)
        return self.topics.get(name)

    def describe_topic_states(self, names: Sequence[str]) -> dict[str, TopicState | AdminError | None]:
        """One call for all `names`; a failure injected for `describe_topic:<name>` is that topic's answer alone."""
        self._call("describe_topic_states", tuple(names))
        return {name: self.fail.get(f"describe_topic:{name}") or self.topics.get(name) for name in names}

    def topic_id(self, name: str) -> str | None:
        self._call("topic_id", name)
        known = self.topics.get(name)
        return known.topic_id if known else None

    def create_topic(self, name: str, partitions: int | None, replicas: int | None, config: Mapping[str, str]) -> None:
        self._call("create_topic", (name, partitions, replicas, dict(config)))
        assignment = tuple(self._placed(p, replicas or 1) for p in range(partitions or 1))
        self.topics[name] = TopicState(name, f"id-{name}", dict(config), assignment)

    def _placed(self, partition: int, factor: int) -> tuple[int, ...]:
        return tuple(self.brokers[(partition + i) % len(self.brokers)] for i in range(factor))

    def create_partitions(self, name: str, total: int) -> None:
        self._call("create_partitions", (name, total))
        state = self.topics[name]
        added = tuple(self._placed(p, state.replicas) for p in range(state.partitions, total))
        self.topics[name] = replace(state, assignment=state.assignment + added)

    def alter_topic_config(self, name: str, set_: Mapping[str, str], delete: Iterable[str]) -> None:
        self._call("alter_topic_config", (name, dict(set_), sorted(delete)))
        config = {k: v for k, v in self.topics[name].config.items() if k not in set(delete)}
        self.topics[name] = replace(self.topics[name], config={**config, **set_})

    def delete_topic(self, name: str) -> None:
        self._call("delete_topic", name)
        if name not in self.topics:
            raise AdminError("UNKNOWN_TOPIC_OR_PART", "This server does not host this topic-partition.")
        del self.topics[name]

    def upsert_scram(self, user: str, password: str) -> None:
        self._call("upsert_scram", user)
        self.scram[user] = password

    def delete_scram(self, user: str) -> None:
        self._call("delete_scram", user)
        self.scram.pop(user, None)

    def describe_acls(self, principal: str) -> set[AclRule]:
        self._call("describe_acls", principal)
        return set(self.acls.get(principal, set()))

    def create_acls(self, principal: str, rules: Iterable[AclRule]) -> None:
        rules = set(rules)
        self._call("create_acls", (principal, rules))
        self.acls.setdefault(principal, set()).update(rules)

    def delete_acls(self, principal: str, rules: Iterable[AclRule]) -> None:
        rules = set(rules)
        self._call("delete_acls", (principal, rules))
        self.acls.get(principal, set()).difference_update(rules)
