"""A test-only fake Kubernetes API server (tests/e2e/README.md): what kopf, kubectl and the Helm SDK need of one.
Never imported by operator code."""

from .server import FakeApiServer

__all__ = ["FakeApiServer"]
