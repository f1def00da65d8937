"""A tiny kopf operator over the test CRD `widgets.fake.odradek.io` (manifests/widget-crd.yaml), run by
test_fake_apiserver_kopf.py with KopfRunner: it proves the fake API server is enough for kopf (discovery, list,
watch, merge patches of status, JSON-patched finalizers, events, deletion)."""

from __future__ import annotations

from typing import Any

import kopf

GROUP, VERSION, PLURAL = "fake.odradek.io", "v1", "widgets"


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    # The kubernetes client fixes its default kubeconfig path at import: read the test's KUBECONFIG here.
    return kopf.login_with_kubeconfig(**kwargs)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.level = 20  # INFO: kopf posts events for handler outcomes
    settings.watching.server_timeout = 5
    settings.watching.client_timeout = 10
    settings.persistence.finalizer = "fake.odradek.io/widget-operator"


@kopf.on.create(GROUP, VERSION, PLURAL)
def created(spec: kopf.Spec, name: str, namespace: str, logger: kopf.Logger, **_: Any) -> dict[str, Any]:
    kopf.info(
        {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Widget", "metadata": {"name": name, "namespace": namespace}},
        reason="Created",
        message=f"widget of size {spec['size']}",
    )
    return {"size": spec["size"]}


@kopf.on.field(GROUP, VERSION, PLURAL, field="spec.size")
def resized(new: Any, patch: kopf.Patch, **_: Any) -> None:
    patch.status["sizeSeen"] = new


@kopf.on.delete(GROUP, VERSION, PLURAL)
def deleted(name: str, memo: kopf.Memo, **_: Any) -> None:
    memo.setdefault("deleted", []).append(name)
