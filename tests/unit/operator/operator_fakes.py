"""Fakes of the operator's edges for unit tests: `FakeAdmin` (a ClusterAdmin over dictionaries, recording every
call, with errors injectable per method); `FakeKube` (tests/kube_fakes.py, shared with the integration tests)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from kube_fakes import FakeKube, secret_value
from odradek.operator.kafka_admin import AclRule, AdminError, TopicState
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

    def _call(self, method: str, arg: Any) -> None:
        self.calls.append((method, arg))
        if method in self.fail:
            raise self.fail[method]

    def mutations(self) -> list[str]:
        reads = ("describe_topic", "describe_acls", "cluster_view", "describe_user_quotas")
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

    def cluster_view(self) -> ClusterView:
        self._call("cluster_view", None)
        return self.view

    def describe_topic(self, name: str) -> TopicState | None:
        self._call("describe_topic", name)
        return self.topics.get(name)

    def create_topic(self, name: str, partitions: int | None, replicas: int | None, config: Mapping[str, str]) -> None:
        self._call("create_topic", (name, partitions, replicas, dict(config)))
        self.topics[name] = TopicState(name, partitions or 1, replicas or 1, f"id-{name}", dict(config))

    def create_partitions(self, name: str, total: int) -> None:
        self._call("create_partitions", (name, total))
        self.topics[name] = replace(self.topics[name], partitions=total)

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
