"""Fakes of the operator's two edges for unit tests: `FakeAdmin` (a ClusterAdmin over dictionaries, recording
every call, with errors injectable per method) and `FakeKube` (a KubeApi over a dictionary, keeping applied
objects as the API server would return them: stringData folded into base64 data)."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from odradek.operator.kafka_admin import AclRule, AdminError, TopicState
from odradek.operator.roller import ClusterView


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


class FakeKube:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.applied: list[str] = []
        self.deleted: list[str] = []

    def put(self, obj: Mapping[str, Any]) -> None:
        meta = obj["metadata"]
        self.objects[(str(obj["kind"]), str(meta.get("namespace", "default")), str(meta["name"]))] = dict(obj)

    def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        obj = {k: v for k, v in manifest.items() if k != "stringData"}
        if "stringData" in manifest:
            obj["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in manifest["stringData"].items()}
        old = self.objects.get((obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"]))
        if old and "status" in old:
            obj["status"] = old["status"]
        self.put(obj)
        self.applied.append(f"{obj['kind']}/{obj['metadata']['name']}")
        return obj

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((kind, namespace, name))

    def list(self, api_version: str, kind: str, namespace: str, label_selector: str = "") -> list[dict[str, Any]]:
        wanted = dict(term.split("=", 1) for term in label_selector.split(",") if term)  # equality terms only
        return [
            o
            for (k, ns, _), o in self.objects.items()
            if k == kind
            and ns == namespace
            and all((o.get("metadata") or {}).get("labels", {}).get(key) == value for key, value in wanted.items())
        ]

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        self.deleted.append(f"{kind}/{name}")
        obj = self.objects.get((kind, namespace, name))
        if obj is not None:  # as the API server does for a pod: deletion starts, the object stays for a while
            obj.setdefault("metadata", {})["deletionTimestamp"] = "2026-12-01T00:00:00Z"


def secret_value(secret: Mapping[str, Any], key: str) -> str:
    return base64.b64decode(secret["data"][key]).decode()
