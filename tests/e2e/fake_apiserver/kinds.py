"""The resource types the fake API server serves: the built-in kinds an operator creates, plus one type per
served version of every CustomResourceDefinition stored in it.

A `ResourceType` is what discovery lists and what a URL resolves to: `/api/v1/namespaces/ns/configmaps` is
(group "", version "v1", plural "configmaps"). Objects are stored once per (group, plural), whatever version they
were written in (the fake does no conversion: a CRD's versions share one shape).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True, slots=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    # Whether `<plural>/status` is a subresource: main writes then ignore status, /status writes only status.
    status_subresource: bool = False
    categories: tuple[str, ...] = ()
    # The CRD's openAPIV3Schema for this version (None for built-in kinds, validated by kubernetes-validate).
    schema: Json | None = field(default=None, compare=False, hash=False)
    # The CRD version's additionalPrinterColumns (name, type, jsonPath, ...), for Table answers.
    printer_columns: tuple[Json, ...] = field(default=(), compare=False, hash=False)
    # The scale subresource as (specReplicasPath, statusReplicasPath, labelSelectorPath), None without one.
    scale: tuple[str, str, str] | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def qualified_kind(self) -> str:
        """How Kubernetes names the kind in error messages: `ConfigMap`, `StatefulSet.apps`."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def qualified_plural(self) -> str:
        """`configmaps`, `statefulsets.apps`: the resource in NotFound and AlreadyExists messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def builtin(self) -> bool:
        return self.schema is None


def _b(
    group: str,
    version: str,
    kind: str,
    plural: str,
    namespaced: bool = True,
    *short: str,
    status: bool = False,
    categories: tuple[str, ...] = (),
    scale: tuple[str, str, str] | None = None,
) -> ResourceType:
    return ResourceType(group, version, kind, plural, namespaced, short, status, categories, scale=scale)


WORKLOAD_SCALE = (".spec.replicas", ".status.replicas", ".status.selector")


BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _b("", "v1", "Namespace", "namespaces", False, "ns", status=True),
    _b("", "v1", "ConfigMap", "configmaps", True, "cm"),
    _b("", "v1", "Secret", "secrets"),
    _b("", "v1", "Service", "services", True, "svc", status=True, categories=("all",)),
    _b("", "v1", "Pod", "pods", True, "po", status=True, categories=("all",)),
    _b("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, "pvc", status=True),
    _b("", "v1", "ServiceAccount", "serviceaccounts", True, "sa"),
    _b("", "v1", "Event", "events", True, "ev"),
    _b("", "v1", "Endpoints", "endpoints", True, "ep"),
    _b(
        "apps", "v1", "StatefulSet", "statefulsets", True, "sts", status=True, categories=("all",), scale=WORKLOAD_SCALE
    ),
    _b(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        True,
        "deploy",
        status=True,
        categories=("all",),
        scale=WORKLOAD_SCALE,
    ),
    _b("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, "pdb", status=True),
    _b("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    _b("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _b("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    _b("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _b("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True, "netpol"),
    _b("coordination.k8s.io", "v1", "Lease", "leases"),
    _b("events.k8s.io", "v1", "Event", "events", True, "ev"),
    _b(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        False,
        "crd",
        "crds",
        status=True,
    ),
)

# Group preference order in /apis (kubectl resolves short names and kinds in this order).
BUILTIN_GROUPS: tuple[str, ...] = tuple(dict.fromkeys(t.group for t in BUILTIN_TYPES if t.group))


def crd_types(crd: Json) -> list[ResourceType]:
    """The served versions of a CustomResourceDefinition, as resource types."""
    spec = crd["spec"]
    names = spec["names"]
    types = []
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        schema = (version.get("schema") or {}).get("openAPIV3Schema") or {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
        }
        types.append(
            ResourceType(
                group=spec["group"],
                version=version["name"],
                kind=names["kind"],
                plural=names["plural"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames", ())),
                status_subresource="status" in (version.get("subresources") or {}),
                scale=_crd_scale((version.get("subresources") or {}).get("scale")),
                categories=tuple(names.get("categories", ())),
                schema=schema,
                printer_columns=tuple(version.get("additionalPrinterColumns", ())),
            )
        )
    return types


def _crd_scale(scale: Json | None) -> tuple[str, str, str] | None:
    if not scale:
        return None
    return scale["specReplicasPath"], scale["statusReplicasPath"], scale.get("labelSelectorPath", "")
