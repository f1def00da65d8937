"""End-to-end tests: the operator, the chart and the fake API server they run against (tests/e2e/README.md).

`kube_api` (fake_apiserver/fixture.py) is the fixture: a fresh fake API server per test, its kubeconfig, the real
kubectl bound to it and direct read helpers. pytest puts this folder on sys.path, so tests import
`fake_apiserver.fixture` for `KubeApi` and `eventually`.
"""

from fake_apiserver.fixture import kube_api

__all__ = ["kube_api"]
