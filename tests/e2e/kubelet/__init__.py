"""A test kubelet for the fake API server (tests/e2e/README.md "The test kubelet"): it runs the pods the operator
creates as local processes on loopback, with a minimal StatefulSet controller beside it. Test-only."""

from .kubelet import Kubelet

__all__ = ["Kubelet"]
