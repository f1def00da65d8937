"""The only module that calls the Kubernetes API, through the `kubernetes` client's DynamicClient (discovery
finds any kind, built-in or custom).

Writes are server-side apply with the field manager `odradek-operator` and forced conflicts: the operator owns
the fields it sets in its children, and applying the same manifest twice changes nothing (handlers stay
idempotent). Reads return plain dicts (the API's JSON); a missing object is None.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Protocol

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError

FIELD_MANAGER = "odradek-operator"


class KubeApi(Protocol):
    """What the reconcilers need of the Kubernetes API (`Kube` is one; tests pass a fake)."""

    def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]: ...
    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None: ...
    def list(self, api_version: str, kind: str, namespace: str, label_selector: str = "") -> list[dict[str, Any]]: ...
    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None: ...
    def patch_status(
        self, api_version: str, kind: str, namespace: str, name: str, status: Mapping[str, Any]
    ) -> None: ...


def api_client() -> Any:
    """An ApiClient from the pod's service account in a cluster, else from $KUBECONFIG or ~/.kube/config (read
    now, not at import: tests and developers point KUBECONFIG elsewhere)."""
    try:
        k8s_config.load_incluster_config()
    except k8s_config.ConfigException:
        k8s_config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or None)
    return k8s_client.ApiClient()


class Kube:
    def __init__(self, api: Any | None = None) -> None:
        self._dynamic = DynamicClient(api or api_client())

    def _resource(self, api_version: str, kind: str) -> Any:
        return self._dynamic.resources.get(api_version=api_version, kind=kind)

    def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        meta = manifest["metadata"]
        resource = self._resource(str(manifest["apiVersion"]), str(manifest["kind"]))
        result = resource.server_side_apply(
            body=dict(manifest),
            name=meta["name"],
            namespace=meta.get("namespace"),
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )
        return dict(result.to_dict())

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            result = self._resource(api_version, kind).get(name=name, namespace=namespace)
        except NotFoundError:
            return None
        return dict(result.to_dict())

    def list(self, api_version: str, kind: str, namespace: str, label_selector: str = "") -> list[dict[str, Any]]:
        result = self._resource(api_version, kind).get(namespace=namespace, label_selector=label_selector or None)
        return [dict(item) for item in result.to_dict().get("items") or []]

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        """Deletes the object; one already gone is no error (a retried reconcile)."""
        try:
            self._resource(api_version, kind).delete(name=name, namespace=namespace)
        except NotFoundError:
            return

    def patch_status(self, api_version: str, kind: str, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        """Merges `status` into the object's status (a JSON merge patch of the status subresource, as kopf writes a
        handler's status); an object already gone is no error."""
        try:
            self._resource(api_version, kind).status.patch(
                body={"status": dict(status)},
                name=name,
                namespace=namespace,
                content_type="application/merge-patch+json",
            )
        except NotFoundError:
            return
